import { describe, expect, it } from 'vitest';
import {
  checkBasicAuth,
  credentialsFromEnv,
  isLoopbackHost,
  requireCredentialsOffLoopback,
} from '../../../src/ui/basic-auth.js';
import { CsrfTokens } from '../../../src/ui/csrf-tokens.js';
import { crossSiteProblem, hostName, hostProblem } from '../../../src/ui/request-checks.js';

const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;

describe('CSRF tokens', () => {
  const secret = Buffer.alloc(32, 7);

  it('are valid for the subject they were issued to, until they expire', () => {
    const tokens = new CsrfTokens(secret, 60_000);
    const token = tokens.issue('ops', 1_000_000);
    expect(tokens.verify(token, 'ops', 1_000_000)).toBe('valid');
    expect(tokens.verify(token, 'ops', 1_000_000 + 59_000)).toBe('valid');
    expect(tokens.verify(token, 'ops', 1_000_000 + 61_000)).toBe('expired');
    expect(tokens.verify(token, 'someone-else', 1_000_000)).toBe('invalid');
  });

  it('refuse a token of another secret, a changed expiry, a changed MAC, and nothing at all', () => {
    const tokens = new CsrfTokens(secret);
    const token = tokens.issue('');
    const [expiry = '', mac = ''] = token.split('.');
    expect(new CsrfTokens(Buffer.alloc(32, 8)).verify(token, '')).toBe('invalid');
    expect(tokens.verify(`${(parseInt(expiry, 36) + 1000).toString(36)}.${mac}`, '')).toBe('invalid');
    expect(tokens.verify(`${expiry}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, '')).toBe('invalid');
    expect(tokens.verify(undefined, '')).toBe('invalid');
    expect(tokens.verify('', '')).toBe('invalid');
    expect(tokens.verify('x.y', '')).toBe('invalid');
  });

  it('are the same for the same secret in every process (replicas share a secret), different across secrets', () => {
    expect(new CsrfTokens(secret).issue('a', 5_000)).toBe(new CsrfTokens(secret).issue('a', 5_000));
    expect(new CsrfTokens().issue('a', 5_000)).not.toBe(new CsrfTokens().issue('a', 5_000));
    expect(() => new CsrfTokens(Buffer.alloc(16))).toThrow(RangeError);
  });
});

describe('basic auth', () => {
  const credentials = { user: 'ops', password: 'p:ss wörd' };

  it('accepts exactly the user and password (a colon in the password included)', () => {
    expect(checkBasicAuth(basic('ops:p:ss wörd'), credentials)).toBe('ops');
    expect(checkBasicAuth(basic('ops:p:ss word'), credentials)).toBeUndefined();
    expect(checkBasicAuth(basic('Ops:p:ss wörd'), credentials)).toBeUndefined();
    expect(checkBasicAuth(basic('ops'), credentials)).toBeUndefined();
    expect(checkBasicAuth('Bearer abc', credentials)).toBeUndefined();
    expect(checkBasicAuth(undefined, credentials)).toBeUndefined();
  });

  it('reads WARREN_UI_USER and WARREN_UI_PASSWORD: both or neither', () => {
    expect(credentialsFromEnv({})).toBeUndefined();
    expect(credentialsFromEnv({ WARREN_UI_USER: 'a', WARREN_UI_PASSWORD: 'b' })).toEqual({ user: 'a', password: 'b' });
    expect(() => credentialsFromEnv({ WARREN_UI_USER: 'a' })).toThrow(/WARREN_UI_PASSWORD must be set too/);
    expect(() => credentialsFromEnv({ WARREN_UI_PASSWORD: 'b' })).toThrow(/WARREN_UI_USER must be set too/);
    expect(() => credentialsFromEnv({ WARREN_UI_USER: 'a:b', WARREN_UI_PASSWORD: 'c' })).toThrow(
      /must not contain ":"/,
    );
  });

  it('is required off the loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect(isLoopbackHost(host), host).toBe(true);
      expect(() => requireCredentialsOffLoopback(host, undefined)).not.toThrow();
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'ui.example.com']) {
      expect(isLoopbackHost(host), host).toBe(false);
      expect(() => requireCredentialsOffLoopback(host, undefined)).toThrow(
        new RegExp(`listen on ${host.replace(/[.]/g, '\\.')}.*set WARREN_UI_USER and WARREN_UI_PASSWORD`),
      );
      expect(() => requireCredentialsOffLoopback(host, { user: 'a', password: 'b' })).not.toThrow();
    }
  });
});

describe('request checks', () => {
  it('Host: answers only to the allowed names (DNS rebinding), any when none are given', () => {
    const allowed = ['localhost', '127.0.0.1', '[::1]'];
    expect(hostName('127.0.0.1:9465')).toBe('127.0.0.1');
    expect(hostName('[::1]:9465')).toBe('[::1]');
    expect(hostName('LocalHost')).toBe('localhost');
    expect(hostProblem('127.0.0.1:9465', allowed)).toBeUndefined();
    expect(hostProblem('[::1]:9465', allowed)).toBeUndefined();
    expect(hostProblem('attacker.example:9465', allowed)).toMatch(/does not answer to the host "attacker\.example"/);
    expect(hostProblem(undefined, allowed)).toMatch(/no Host header/);
    expect(hostProblem('anything.example', undefined)).toBeUndefined();
  });

  it('state changes: same-origin only, by Sec-Fetch-Site and Origin; neither sent leaves it to the token', () => {
    const host = '127.0.0.1:9465';
    expect(crossSiteProblem({ host, origin: 'http://127.0.0.1:9465', secFetchSite: 'same-origin' })).toBeUndefined();
    expect(crossSiteProblem({ host })).toBeUndefined();
    expect(crossSiteProblem({ host, secFetchSite: 'cross-site' })).toMatch(/cross-site request may not change/);
    expect(crossSiteProblem({ host, secFetchSite: 'same-site' })).toMatch(/same-site request/);
    expect(crossSiteProblem({ host, origin: 'http://evil.example' })).toMatch(/comes from http:\/\/evil\.example/);
    expect(crossSiteProblem({ host, origin: 'null' })).toMatch(/opaque origin/);
    expect(crossSiteProblem({ host, origin: 'null', secFetchSite: 'cross-site' })).toMatch(/cross-site/);
    // A form post under Referrer-Policy: no-referrer, as Chromium sends it.
    expect(crossSiteProblem({ host, origin: 'null', secFetchSite: 'same-origin' })).toBeUndefined();
    expect(crossSiteProblem({ host, origin: 'not a url' })).toMatch(/is not a URL/);
    expect(
      crossSiteProblem({ host: 'internal:9465', origin: 'https://ops.example.com' }, ['https://ops.example.com']),
    ).toBeUndefined();
  });
});
