import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A file the UI serves to browsers, named after its content so that it can be cached for good. */
export interface StaticAsset {
  /** `htmx.<hash>.min.js`, `warren-ui.<hash>.css`: the path under `<basePath>/assets/`. */
  readonly name: string;
  readonly contentType: string;
  readonly body: Buffer;
}

/** The UI's files: htmx (from the htmx.org package, as published), its stylesheet and its icon. */
export interface StaticAssets {
  readonly htmx: StaticAsset;
  readonly css: StaticAsset;
  readonly icon: StaticAsset;
}

function asset(file: string, stem: string, extension: string, contentType: string): StaticAsset {
  const body = readFileSync(file);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name: `${stem}.${hash}${extension}`, contentType, body };
}

/**
 * Reads the files once. htmx is resolved from this module (a dependency of warren's, not of the application);
 * the stylesheet and the icon sit beside this module in `assets/` (the build copies them into `dist/`).
 */
export function loadStaticAssets(): StaticAssets {
  const htmxFile = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
  const own = (name: string): string => fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
  return {
    htmx: asset(htmxFile, 'htmx', '.min.js', 'text/javascript; charset=utf-8'),
    css: asset(own('warren-ui.css'), 'warren-ui', '.css', 'text/css; charset=utf-8'),
    icon: asset(own('favicon.svg'), 'favicon', '.svg', 'image/svg+xml'),
  };
}
