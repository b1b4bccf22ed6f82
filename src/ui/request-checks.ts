/**
 * The checks a request passes before the UI answers it, without I/O: the `Host` it was sent to (against DNS
 * rebinding) and, for a state-changing one, where it came from (`Sec-Fetch-Site`, `Origin`). The CSRF token is
 * checked on top of these. Each returns why it refuses, or `undefined`. Pure.
 */

/** The host name of a `Host` header (`127.0.0.1:9465`, `[::1]:9465`, `ui.example.com`), lower case, no port. */
export function hostName(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/**
 * Whether the request's `Host` is one the UI answers to: any, when `allowed` is undefined; else one of `allowed`
 * (host names, no ports). A page another site loads after pointing its own name at 127.0.0.1 (DNS rebinding) arrives
 * with that site's name as its `Host`.
 */
export function hostProblem(
  hostHeader: string | undefined,
  allowed: readonly string[] | undefined,
): string | undefined {
  if (allowed === undefined) return undefined;
  if (hostHeader === undefined || hostHeader === '') return 'the request has no Host header';
  const name = hostName(hostHeader);
  if (allowed.includes(name)) return undefined;
  return `the web UI does not answer to the host "${name}" (it answers to ${allowed.join(', ')}; see the allowedHosts option)`;
}

/**
 * Whether a state-changing request comes from the UI's own pages: `Sec-Fetch-Site`, when the browser sends it, must
 * be `same-origin`; `Origin`, when sent, must be the UI's own (the scheme-less host of the `Host` header) or one of
 * `allowedOrigins` (for a proxy that changes the host), or `null` from a same-origin page. A client that sends
 * neither (curl, a script) is left to the CSRF token.
 */
export function crossSiteProblem(
  headers: {
    readonly host?: string | undefined;
    readonly origin?: string | undefined;
    readonly secFetchSite?: string | undefined;
  },
  allowedOrigins: readonly string[] = [],
): string | undefined {
  const site = headers.secFetchSite?.trim().toLowerCase();
  if (site !== undefined && site !== '' && site !== 'same-origin') {
    return `a ${site} request may not change anything (Sec-Fetch-Site: ${site})`;
  }
  const origin = headers.origin?.trim();
  if (origin === undefined || origin === '') return undefined;
  // With `Referrer-Policy: no-referrer` (the UI's), browsers send a form post's Origin as "null": the browser's own
  // Sec-Fetch-Site then says where it came from. Without one, "null" is an opaque origin (a sandboxed frame, a
  // data: URL), never the UI's pages.
  if (origin === 'null') {
    return site === 'same-origin' ? undefined : 'the request comes from an opaque origin ("null"), not from the web UI';
  }
  if (allowedOrigins.includes(origin)) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `the request's Origin "${origin}" is not a URL`;
  }
  if (headers.host !== undefined && host.toLowerCase() === headers.host.trim().toLowerCase()) return undefined;
  return `the request comes from ${origin}, not from the web UI's own pages`;
}
