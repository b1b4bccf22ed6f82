import type { StaticAssets } from '../static-assets.js';

/** What every page is rendered with, besides its own data. */
export interface PageContext {
  /** The path the UI is mounted under: `''` or `/warren` (no trailing slash). */
  readonly basePath: string;
  /** The file names of htmx and the stylesheet under `<basePath>/assets/`. */
  readonly assets: { readonly [K in keyof StaticAssets]: string };
  readonly namespace: string;
  /** No action is rendered. */
  readonly readOnly: boolean;
  /** The CSRF token for this page's forms. */
  readonly csrfToken: string;
  /** The signed-in user, with basic auth. */
  readonly user: string | undefined;
  /** Seconds between refreshes of the overview's table. */
  readonly refreshSeconds: number;
}

/**
 * A link inside the UI: the base path, then each segment percent-encoded (job types, identities and schedule names
 * are data), then the query. Pure.
 */
export function href(
  context: Pick<PageContext, 'basePath'>,
  segments: readonly string[],
  query?: Readonly<Record<string, string | readonly string[] | number | undefined>>,
): string {
  const path = `${context.basePath}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) params.append(key, String(one));
  }
  const search = params.toString();
  return search === '' ? path : `${path}?${search}`;
}
