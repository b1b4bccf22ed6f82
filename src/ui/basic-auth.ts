import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors/config-error.js';

/** The user and password the UI asks for (HTTP basic auth). */
export interface UiCredentials {
  readonly user: string;
  readonly password: string;
}

/** The variables `warren ui` reads its credentials from. */
export const UI_USER_VARIABLE = 'WARREN_UI_USER';
export const UI_PASSWORD_VARIABLE = 'WARREN_UI_PASSWORD';

/**
 * The credentials of `WARREN_UI_USER` and `WARREN_UI_PASSWORD`, or `undefined` when neither is set.
 * @throws ConfigError when only one is set, or the user contains a colon (basic auth cannot carry it)
 */
export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>>): UiCredentials | undefined {
  const user = env[UI_USER_VARIABLE] ?? '';
  const password = env[UI_PASSWORD_VARIABLE] ?? '';
  if (user === '' && password === '') return undefined;
  if (user === '' || password === '') {
    const missing = user === '' ? UI_USER_VARIABLE : UI_PASSWORD_VARIABLE;
    throw new ConfigError(
      `${missing} must be set too: basic auth for the web UI needs both ${UI_USER_VARIABLE} and ${UI_PASSWORD_VARIABLE}`,
    );
  }
  if (user.includes(':')) throw new ConfigError(`${UI_USER_VARIABLE} must not contain ":" (basic auth splits there)`);
  return { user, password };
}

/** True for an address only this machine can reach: `localhost`, `127.0.0.0/8`, `::1`. Pure. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name) || name === '::ffff:127.0.0.1';
}

/**
 * Refuses to serve the UI on an address other machines can reach without credentials.
 * @throws ConfigError naming the host and the variables to set
 */
export function requireCredentialsOffLoopback(host: string, credentials: UiCredentials | undefined): void {
  if (credentials !== undefined || isLoopbackHost(host)) return;
  throw new ConfigError(
    `the web UI would listen on ${host}, which other machines can reach, without a password: set ` +
      `${UI_USER_VARIABLE} and ${UI_PASSWORD_VARIABLE} (basic auth), or leave --host at 127.0.0.1`,
  );
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks an `Authorization: Basic …` header against the credentials; resolves with the user, or `undefined` when it
 * does not match. User and password are both compared, in constant time (as SHA-256 digests, so their lengths do
 * not show either).
 */
export function checkBasicAuth(header: string | undefined, credentials: UiCredentials): string | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const userMatches = timingSafeEqual(digest(user), digest(credentials.user));
  const passwordMatches = timingSafeEqual(digest(password), digest(credentials.password));
  return userMatches && passwordMatches ? user : undefined;
}
