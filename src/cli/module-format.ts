import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/** How Node runs a module, and why. */
export interface ModuleFormat {
  readonly format: 'module' | 'commonjs';
  readonly extension: string;
  /** The package.json that decided it, if the extension did not. */
  readonly packageJson: string | undefined;
  /** Why, in words: `.mts file`, `"type": "module" in /app/package.json`, `no package.json above it`. */
  readonly reason: string;
  /**
   * Whether the extension or a `"type"` field decided the format. When neither did (`.js`/`.ts` with no `"type"`),
   * Node runs a `.js` file as an ES module if its syntax is one; `format` is then only the default.
   */
  readonly explicit: boolean;
}

const BY_EXTENSION: Readonly<Record<string, 'module' | 'commonjs'>> = {
  '.mjs': 'module',
  '.mts': 'module',
  '.cjs': 'commonjs',
  '.cts': 'commonjs',
};

/**
 * The format Node (and tsx) give a module: `.mjs`/`.mts` are ES modules and `.cjs`/`.cts` CommonJS whatever the
 * package says; `.js` and `.ts` follow the `"type"` of the nearest package.json, CommonJS when it has none or
 * there is no package.json at all (what `npm init -y` writes, `"type": "commonjs"`, is the common case).
 */
export function moduleFormat(path: string): ModuleFormat {
  const extension = extname(path);
  const fixed = BY_EXTENSION[extension];
  if (fixed !== undefined)
    return { format: fixed, extension, packageJson: undefined, reason: `a ${extension} file`, explicit: true };
  const packageJson = nearestPackageJson(dirname(path));
  if (packageJson === undefined) {
    return { format: 'commonjs', extension, packageJson, reason: 'no package.json above it', explicit: false };
  }
  const type = packageType(packageJson);
  if (type === 'module')
    return { format: 'module', extension, packageJson, reason: `"type": "module" in ${packageJson}`, explicit: true };
  return {
    format: 'commonjs',
    extension,
    packageJson,
    reason: type === undefined ? `${packageJson} sets no "type"` : `"type": "${type}" in ${packageJson}`,
    explicit: type !== undefined,
  };
}

/** The package.json Node consults for a file in `dir`: the first one found walking up. */
function nearestPackageJson(dir: string): string | undefined {
  for (let current = dir; ; current = dirname(current)) {
    const candidate = join(current, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(current) === current) return undefined;
  }
}

function packageType(packageJson: string): string | undefined {
  try {
    const type = (JSON.parse(readFileSync(packageJson, 'utf8')) as { type?: unknown }).type;
    return typeof type === 'string' ? type : undefined;
  } catch {
    // Node refuses to run a module under an unreadable package.json; the import reports that better than we can.
    return undefined;
  }
}
