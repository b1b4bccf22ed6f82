import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { Registry, defineJob, defineSchedule, type DeadLetterMessage } from 'warren';
import { CONTENT_SECURITY_POLICY, createWarrenUi, type WarrenUiOptions } from 'warren/ui';
import { fakeDeadLetter, fakeSources, type FakeCalls } from '../../helpers/ui-fakes.js';

// The handler over a real node:http server on 127.0.0.1, its sources faked: what a browser (or an attacker's page)
// can and cannot make it do.

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const registry = new Registry().register(defineJob('email.send', () => {}));
const schedules = [
  defineSchedule({ name: 'nightly', cron: '0 3 * * *', jobType: 'email.send', payload: { to: 'a@b' } }),
];

async function serve(
  options: Partial<WarrenUiOptions> & { deadLetters?: Record<string, DeadLetterMessage[]> } = {},
): Promise<{ base: string; calls: FakeCalls; get: (path: string, init?: RequestInit) => Promise<Response> }> {
  const { deadLetters = { 'email.send': [fakeDeadLetter('m-1'), fakeDeadLetter('m-2')] }, ...rest } = options;
  const { sources, calls } = fakeSources({
    deadLetters,
    queues: {
      'warren.job.email.send': { messages: 4, consumers: 1 },
      'warren.dead.email.send': { messages: deadLetters['email.send']?.length ?? 0, consumers: 0 },
    },
    schedules: [
      {
        name: 'nightly',
        cron: '0 3 * * *',
        timeZone: 'UTC',
        jobType: 'email.send',
        catchUpMs: 0,
        nextFires: ['2026-03-03T03:00:00.000Z'],
        lastFire: null,
      },
    ],
  });
  const ui = createWarrenUi({
    config: { namespace: 'warren', redisUrl: 'none', logLevel: 'silent' },
    logger: pino({ level: 'silent' }),
    registry,
    schedules,
    sources,
    ...rest,
  });
  const server = createServer(ui);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    await ui.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, calls, get: (path, init) => fetch(`${base}${path}`, { redirect: 'manual', ...init }) };
}

/** A GET with headers fetch() will not send (`Host`): resolves with the status. */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = httpRequest(`${base}${path}`, { headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    call.on('error', reject);
    call.end();
  });
}

/** The CSRF token of the first form of a page. */
function tokenOf(page: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (token === undefined) throw new Error(`no token in the page:\n${page}`);
  return token;
}

function post(
  base: string,
  path: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const one of [value].flat()) body.append(name, one);
  return fetch(`${base}${path}`, {
    method: 'POST',
    body,
    redirect: 'manual',
    headers: { origin: base, 'sec-fetch-site': 'same-origin', ...headers },
  });
}

describe('createWarrenUi: pages', () => {
  it('every response carries the CSP, nosniff and no-referrer; pages have no inline script or style', async () => {
    const { get } = await serve();
    for (const path of ['/', '/overview/table', '/jobs/email.send/dead-letters', '/schedules', '/nope']) {
      const response = await get(path);
      expect(response.headers.get('content-security-policy'), path).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('no-referrer');
      const text = await response.text();
      expect(text, path).not.toMatch(/<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|hx-on|hx-vars|javascript:/i);
    }
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
  });

  it('serves htmx from its package and the stylesheet, named by content, cached for good', async () => {
    const { get } = await serve();
    const page = await (await get('/')).text();
    const htmx = /<script src="(\/assets\/htmx\.[0-9a-f]{12}\.min\.js)" defer><\/script>/.exec(page)?.[1];
    const css = /<link rel="stylesheet" href="(\/assets\/warren-ui\.[0-9a-f]{12}\.css)">/.exec(page)?.[1];
    expect(page).toContain(`<meta name="htmx-config" content="{&quot;includeIndicatorStyles&quot;:false,`);
    const script = await get(htmx ?? '');
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const file = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
    expect(Buffer.from(await script.arrayBuffer()).equals(readFileSync(file))).toBe(true);
    expect((await get(css ?? '')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await get('/assets/htmx.000000000000.min.js')).status).toBe(404);
  });

  it('the overview table refreshes itself from its fragment', async () => {
    const { get } = await serve();
    const page = await (await get('/')).text();
    expect(page).toContain(
      '<div id="overview-table" hx-get="/overview/table" hx-trigger="every 5s" hx-swap="outerHTML">',
    );
    const fragment = await (await get('/overview/table')).text();
    expect(fragment).toMatch(/^<div id="overview-table" hx-get="\/overview\/table"/);
    expect(fragment).not.toContain('<html');
    expect(fragment).toContain('<a href="/jobs/email.send/dead-letters" class="has-dead"');
  });

  it('a payload, an error message and a header that hold HTML or script render as text', async () => {
    const hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
    const letter = fakeDeadLetter(`id-${hostile}`, {
      errorName: hostile,
      errorMessage: hostile,
      body: JSON.stringify({ html: hostile }),
      stack: hostile,
    });
    (letter.properties.headers as Record<string, unknown>)['x-evil'] = hostile;
    const { get } = await serve({ deadLetters: { 'email.send': [letter] } });
    const list = await (await get('/jobs/email.send/dead-letters')).text();
    const detailPath = /<a href="(\/jobs\/email\.send\/dead-letters\/[^"]+)">/.exec(list)?.[1];
    const detail = await (await get(detailPath ?? '')).text();
    for (const text of [list, detail]) {
      expect(text).not.toContain('<script>alert');
      expect(text).not.toContain('<img');
      expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    }
    expect(detail).toContain('<td class="nowrap"><code>x-evil</code></td>');
    expect(detail).toContain('&quot;html&quot;: &quot;&lt;script&gt;');
  });

  it('is mounted under a base path: links carry it, other paths are not its own', async () => {
    const { get } = await serve({ basePath: '/ops/warren' });
    const page = await (await get('/ops/warren')).text();
    expect(page).toContain('href="/ops/warren/jobs/email.send/dead-letters"');
    expect(page).toMatch(/src="\/ops\/warren\/assets\/htmx\./);
    expect((await get('/')).status).toBe(404);
    expect((await get('/ops/warrenx')).status).toBe(404);
    expect(() => createWarrenUi({ basePath: '/trailing/', sources: fakeSources().sources })).toThrow(
      /basePath must be/,
    );
  });

  it('answers only to loopback host names without auth (DNS rebinding), to any with auth', async () => {
    const open = await serve();
    expect(await rawGet(open.base, '/', { host: 'attacker.example' })).toBe(421);
    expect(await rawGet(open.base, '/', { host: 'localhost:9465' })).toBe(200);
    const authed = await serve({ auth: { user: 'ops', password: 'pw' } });
    const authorization = `Basic ${Buffer.from('ops:pw').toString('base64')}`;
    expect(await rawGet(authed.base, '/', { host: 'ui.example.com', authorization })).toBe(200);
  });
});

describe('createWarrenUi: auth', () => {
  it('refuses every request without the right credentials, assets included', async () => {
    const { get } = await serve({ auth: { user: 'ops', password: 's3cret' } });
    const none = await get('/');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="warren", charset="UTF-8"');
    expect(none.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    const basic = (pair: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(pair).toString('base64')}`,
    });
    expect((await get('/', { headers: basic('ops:wrong') })).status).toBe(401);
    expect((await get('/jobs/email.send/dead-letters', { headers: basic('nobody:s3cret') })).status).toBe(401);
    expect((await get('/assets/anything.css')).status).toBe(401);
    const page = await get('/', { headers: basic('ops:s3cret') });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('· ops</span>');
  });
});

describe('createWarrenUi: actions', () => {
  it('a replay of a selection: confirmed first, then one POST with the token runs it by message id', async () => {
    const { base, get, calls } = await serve();
    const confirm = await (await get('/jobs/email.send/replay?id=m-2&id=m-1')).text();
    expect(confirm).toContain('Replay <strong>2 dead letters</strong> of <code>warren.dead.email.send</code>');
    expect(confirm).toContain('removed from the dead-letter queue only after RabbitMQ has confirmed its copy');
    expect(calls.replays).toEqual([]);
    const response = await post(base, '/jobs/email.send/replay', { _csrf: tokenOf(confirm), id: ['m-2', 'm-1'] });
    expect(response.status).toBe(200);
    const result = await response.text();
    expect(result).toContain('<li>replayed 2 of 2</li>');
    expect(result).toContain('Replayed <strong>2 dead letters</strong> of email.send');
    expect(calls.replays).toEqual([{ jobType: 'email.send', messageIds: ['m-2', 'm-1'], scanLimit: 1_000 }]);
  });

  it('"replay all" replays at most as many as were confirmed', async () => {
    const { base, get, calls } = await serve();
    const confirm = await (await get('/jobs/email.send/replay?all=1')).text();
    expect(confirm).toContain('Replay <strong>all 2 dead letters</strong> now in <code>warren.dead.email.send</code>');
    await post(base, '/jobs/email.send/replay', { _csrf: tokenOf(confirm), count: '2' });
    expect(calls.replays).toEqual([{ jobType: 'email.send', limit: 2 }]);
  });

  it('refuses a POST without a valid token, from another origin, or from another site; nothing runs', async () => {
    const { base, get, calls } = await serve({ auth: { user: 'ops', password: 'pw' } });
    const auth = { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` };
    const token = tokenOf(await (await get('/jobs/email.send/purge', { headers: auth })).text());
    const cases: Array<[string, Record<string, string>, Record<string, string>]> = [
      ['no token', {}, auth],
      ['a forged token', { _csrf: 'zzzzzz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, auth],
      ['another origin', { _csrf: token }, { ...auth, origin: 'http://evil.example' }],
      ['another site', { _csrf: token }, { ...auth, 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [what, fields, headers] of cases) {
      const response = await post(base, '/jobs/email.send/purge', { count: '2', ...fields }, headers);
      expect(response.status, what).toBe(403);
      expect(response.headers.get('content-security-policy'), what).toBe(CONTENT_SECURITY_POLICY);
    }
    // Not a form post: refused before the token is looked at.
    const json = await fetch(`${base}/jobs/email.send/purge`, {
      method: 'POST',
      body: '{}',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(json.status).toBe(415);
    expect(calls.purges).toEqual([]);
    expect(calls.replays).toEqual([]);
    const done = await post(base, '/jobs/email.send/purge', { _csrf: token, count: '2' }, auth);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Deleted 2 dead letters from <code>warren.dead.email.send</code>');
    expect(calls.purges).toEqual(['email.send']);
  });

  it("one user's token is no use to another, even under the same secret", async () => {
    const csrfSecret = Buffer.alloc(32, 1);
    const auth = (pair: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(pair).toString('base64')}`,
    });
    const ops = await serve({ auth: { user: 'ops', password: 'pw' }, csrfSecret });
    const token = tokenOf(await (await ops.get('/jobs/email.send/purge', { headers: auth('ops:pw') })).text());
    const dev = await serve({ auth: { user: 'dev', password: 'pw2' }, csrfSecret });
    const refused = await post(dev.base, '/jobs/email.send/purge', { _csrf: token, count: '2' }, auth('dev:pw2'));
    expect(refused.status).toBe(403);
    expect(dev.calls.purges).toEqual([]);
    // The same secret makes a token good on another replica for the same user.
    const replica = await serve({ auth: { user: 'ops', password: 'pw' }, csrfSecret });
    const accepted = await post(replica.base, '/jobs/email.send/purge', { _csrf: token, count: '2' }, auth('ops:pw'));
    expect(accepted.status).toBe(200);
    expect(replica.calls.purges).toEqual(['email.send']);
  });

  it('a purge refuses when more dead letters arrived than were confirmed', async () => {
    const { base, get, calls } = await serve();
    const token = tokenOf(await (await get('/jobs/email.send/purge')).text());
    const response = await post(base, '/jobs/email.send/purge', { _csrf: token, count: '1' });
    expect(response.status).toBe(409);
    expect(await response.text()).toContain(
      'now holds 2 dead letters, more than the 1 you confirmed: nothing was deleted',
    );
    expect(calls.purges).toEqual([]);
  });

  it('"trigger now" confirms with the payload, then publishes through the scheduler', async () => {
    const { base, get, calls } = await serve();
    const confirm = await (await get('/schedules/nightly/trigger')).text();
    expect(confirm).toContain('Publish <strong>one job</strong> of <code>email.send</code> now');
    expect(confirm).toContain('&quot;to&quot;: &quot;a@b&quot;');
    const done = await (await post(base, '/schedules/nightly/trigger', { _csrf: tokenOf(confirm) })).text();
    expect(done).toContain('message id <code>nightly@2026-03-02T10:00:00.000Z</code>');
    expect(calls.triggers).toEqual(['nightly']);
    expect((await get('/schedules/nope/trigger')).status).toBe(404);
  });
});

describe('createWarrenUi: edit and replay', () => {
  const withSchema = new Registry().register(
    defineJob('email.send', () => {}, { schema: z.object({ to: z.string().email() }) }),
  );

  it('offers the payload to edit; refuses what is not JSON or fails the schema; replays the rest by id', async () => {
    const { base, get, calls } = await serve({ registry: withSchema });
    const list = await (await get('/jobs/email.send/dead-letters')).text();
    const detailPath = /<a href="(\/jobs\/email\.send\/dead-letters\/m-1[^"]+)">/.exec(list)?.[1] ?? '';
    const detail = await (await get(detailPath)).text();
    const editPath = /<a class="button secondary" href="([^"]+\/edit)">Edit and replay…<\/a>/.exec(detail)?.[1] ?? '';
    const form = await (await get(editPath)).text();
    expect(form).toContain('<textarea name="payload"');
    expect(form).toContain('&quot;id&quot;: &quot;m-1&quot;');
    expect(form).toContain('valid against the schema of email.send');
    const token = tokenOf(form);

    const notJson = await post(base, '/jobs/email.send/edit', { _csrf: token, id: 'm-1', payload: '{oops' });
    expect(notJson.status).toBe(400);
    expect(await notJson.text()).toMatch(/the payload is not JSON: .*Nothing was replayed/);
    const invalid = await post(base, '/jobs/email.send/edit', { _csrf: token, id: 'm-1', payload: '{"to":"nope"}' });
    expect(invalid.status).toBe(400);
    const refusal = await invalid.text();
    expect(refusal).toMatch(/payload does not match the schema of &quot;email\.send&quot;: to: /);
    // The form comes back with what was typed.
    expect(refusal).toContain('{&quot;to&quot;:&quot;nope&quot;}</textarea>');
    expect(calls.replays).toEqual([]);

    const done = await post(base, '/jobs/email.send/edit', {
      _csrf: token,
      id: 'm-1',
      payload: '{ "to": "a@example.com" }',
    });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Replayed <strong>1 dead letter</strong>');
    expect(calls.replays).toEqual([
      {
        jobType: 'email.send',
        messageIds: ['m-1'],
        bodies: new Map([['m-1', Buffer.from('{"to":"a@example.com"}')]]),
        scanLimit: 1_000,
      },
    ]);
  });
});

describe('createWarrenUi: read-only', () => {
  it('renders no action and refuses every action, even with a valid token', async () => {
    const secret = Buffer.alloc(32, 3);
    const writable = await serve({ csrfSecret: secret });
    const token = tokenOf(await (await writable.get('/jobs/email.send/purge')).text());
    const { base, get, calls } = await serve({ readOnly: true, csrfSecret: secret });
    for (const path of ['/', '/jobs/email.send/dead-letters', '/schedules']) {
      const page = await (await get(path)).text();
      expect(page, path).not.toMatch(/method="post"|type="checkbox"|Replay|Purge|Trigger now/);
    }
    const list = await (await get('/jobs/email.send/dead-letters')).text();
    const detail = await (
      await get(/<a href="(\/jobs\/email\.send\/dead-letters\/[^"]+)">/.exec(list)?.[1] ?? '')
    ).text();
    expect(detail).toContain('Dead letter m-1');
    expect(detail).not.toMatch(/Replay this/);
    const edit = `${/<a href="(\/jobs\/email\.send\/dead-letters\/[^"]+)">/.exec(list)?.[1] ?? ''}/edit`;
    for (const path of [
      '/jobs/email.send/replay?all=1',
      '/jobs/email.send/purge',
      '/schedules/nightly/trigger',
      edit,
    ]) {
      expect((await get(path)).status, path).toBe(403);
    }
    for (const [path, fields] of [
      ['/jobs/email.send/replay', { _csrf: token, count: '2' }],
      ['/jobs/email.send/purge', { _csrf: token, count: '2' }],
      ['/schedules/nightly/trigger', { _csrf: token }],
      ['/jobs/email.send/edit', { _csrf: token, id: 'm-1', payload: '{}' }],
    ] as const) {
      expect((await post(base, path, fields)).status, path).toBe(403);
    }
    expect(calls).toMatchObject({ replays: [], purges: [], triggers: [] });
  });
});
