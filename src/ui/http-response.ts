import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SafeHtml } from './html.js';

/**
 * The Content-Security-Policy of every response: nothing but the UI's own script (htmx) and stylesheet, no inline
 * script or style, no framing, forms posting only to the UI itself.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Headers on every response of the UI. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});

/** Pages show dead letters' payloads: no cache keeps them. */
const NO_STORE = 'no-store';

/** Sends an HTML page or fragment. */
export function sendHtml(
  response: ServerResponse,
  status: number,
  page: SafeHtml,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = Buffer.from(page.toString(), 'utf8');
  response
    .writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': NO_STORE,
      'content-length': String(body.length),
      ...headers,
    })
    .end(body);
}

/** Sends plain text (what is refused before any page can be built: a wrong host, missing credentials). */
export function sendText(
  response: ServerResponse,
  status: number,
  text: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = Buffer.from(`${text}\n`, 'utf8');
  response
    .writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': NO_STORE,
      'content-length': String(body.length),
      ...headers,
    })
    .end(body);
}

/** Sends a file named after its content: cached for a year, never revalidated. */
export function sendAsset(response: ServerResponse, contentType: string, body: Buffer): void {
  response
    .writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': contentType,
      'cache-control': 'public, max-age=31536000, immutable',
      'content-length': String(body.length),
    })
    .end(body);
}

/** A redirect after which the browser GETs `location`. */
export function redirect(response: ServerResponse, location: string): void {
  response.writeHead(303, { ...SECURITY_HEADERS, location, 'cache-control': NO_STORE }).end();
}

/** Largest form body accepted: a replay of a page's selection is a few kilobytes. */
const MAX_FORM_BYTES = 64 * 1024;

/** A request's form body (`application/x-www-form-urlencoded`). */
export type FormResult =
  | { readonly ok: true; readonly form: URLSearchParams }
  | { readonly ok: false; readonly status: number; readonly reason: string };

/** Reads an urlencoded form body of at most 64 KiB. */
export async function readForm(request: IncomingMessage): Promise<FormResult> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return { ok: false, status: 415, reason: 'a form post (application/x-www-form-urlencoded) is expected' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return { ok: false, status: 413, reason: 'the form is too large' };
    chunks.push(chunk);
  }
  return { ok: true, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) };
}
