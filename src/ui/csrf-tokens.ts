import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a form's token stays valid. @defaultValue 2 hours */
export const CSRF_TOKEN_TTL_MS = 2 * 3_600_000;

/** What checking a token found. */
export type CsrfVerdict = 'valid' | 'expired' | 'invalid';

/**
 * Stateless CSRF tokens: `<expiry>.<HMAC-SHA256(secret, subject, expiry)>`, where the secret is random per process
 * (or given, for several replicas behind one address) and the subject is the signed-in user (`''` without basic
 * auth). The server keeps nothing: a token is valid when its MAC is the server's own, it has not expired, and it was
 * issued to the same user. Another site cannot read a page to learn one (the same-origin policy), and one user's
 * token is no use to another.
 */
export class CsrfTokens {
  readonly #secret: Buffer;
  readonly #ttlMs: number;

  /** `secret`: at least 32 bytes when given; a random one otherwise. */
  constructor(secret: Buffer = randomBytes(32), ttlMs = CSRF_TOKEN_TTL_MS) {
    if (secret.length < 32) throw new RangeError('a CSRF secret has at least 32 bytes');
    this.#secret = secret;
    this.#ttlMs = ttlMs;
  }

  /** A token for forms shown to `subject` now. */
  issue(subject: string, nowMs = Date.now()): string {
    const expires = Math.ceil((nowMs + this.#ttlMs) / 1000).toString(36);
    return `${expires}.${this.#mac(subject, expires).toString('base64url')}`;
  }

  /** Whether `token` was issued by this server to `subject` and is still valid; compared in constant time. */
  verify(token: string | undefined, subject: string, nowMs = Date.now()): CsrfVerdict {
    const match = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token ?? '');
    if (!match) return 'invalid';
    const [, expires = '', mac = ''] = match;
    // Compared as text: decoding would let a token whose last character differs only in base64's unused low bits
    // through (a 32-byte MAC is 43 characters, the last carrying 4 bits).
    const expected = Buffer.from(this.#mac(subject, expires).toString('base64url'));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return parseInt(expires, 36) * 1000 > nowMs ? 'valid' : 'expired';
  }

  #mac(subject: string, expires: string): Buffer {
    return createHmac('sha256', this.#secret).update(`warren-ui-csrf\n${subject}\n${expires}`).digest();
  }
}
