import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { Registry, deadQueue, defineJob, defineSchedule, type JobContext } from 'warren';
import { createWarrenUi, type WarrenUiOptions } from 'warren/ui';
import { queueDepth, rawConnection, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

// The web UI on the real broker (and Redis, for the schedules page): a job fails into its dead-letter queue, the
// pages show it, and a POST with the page's token replays it through warren dlq's own replay.

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serveUi(options: WarrenUiOptions): Promise<{
  get: (path: string) => Promise<string>;
  post: (path: string, form: Record<string, string | string[]>) => Promise<{ status: number; text: string }>;
}> {
  const ui = createWarrenUi({ logger: pino({ level: 'silent' }), ...options });
  const server = createServer(ui);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    await ui.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get: async (path) => {
      const response = await fetch(`${base}${path}`);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}\n${text}`);
      return text;
    },
    post: async (path, fields) => {
      const body = new URLSearchParams();
      for (const [name, value] of Object.entries(fields)) for (const one of [value].flat()) body.append(name, one);
      const response = await fetch(`${base}${path}`, { method: 'POST', body, headers: { origin: base } });
      return { status: response.status, text: await response.text() };
    },
  };
}

const tokenOf = (page: string): string => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

describe('warren ui on the broker', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('shows a dead letter of a failing job, and replays it by id from a POST with the token: handled, count down', async () => {
    let failing = true;
    const runs: JobContext[] = [];
    const job = defineJob('ui.flaky', (_payload: { n: number }, ctx) => {
      if (failing) throw new TypeError(`boom <b>${ctx.jobId}</b>`);
      runs.push(ctx);
    });
    harness = await startHarness([job], { config: { maxAttempts: 1 } });
    const { client, config } = harness;
    await client.publish('ui.flaky', { n: 1 }, { messageId: 'ui-1' });
    await client.publish('ui.flaky', { n: 2 }, { messageId: 'ui-2' });
    const dead = deadQueue(config.namespace, 'ui.flaky');
    await waitFor('2 dead letters', async () => (await queueDepth(dead)) === 2);

    const ui = await serveUi({ config, registry: new Registry().register(job) });
    const overview = await ui.get('/overview/table');
    expect(overview).toMatch(/<a href="\/jobs\/ui\.flaky\/dead-letters" class="has-dead"[^>]*>2<\/a>/);
    // The worker consumes the job queue: the passive declare sees its consumer.
    expect(overview).toMatch(
      /<strong>ui\.flaky<\/strong>.*\n<td class="num">(0|—)<\/td>\n<td class="num">0<\/td>\n<td class="num">(0|—)<\/td>\n<td class="num">1<\/td>/,
    );

    const list = await ui.get('/jobs/ui.flaky/dead-letters');
    expect(list).toContain('2 dead letters in <code>');
    expect(list).toContain('<strong>TypeError</strong>: boom &lt;b&gt;ui-1&lt;/b&gt;');
    const detailPath = /<a href="(\/jobs\/ui\.flaky\/dead-letters\/ui-1%7C[^"]+)">ui-1<\/a>/.exec(list)?.[1];
    const detail = await ui.get(detailPath ?? '');
    expect(detail).toContain('<code>x-warren-reason</code></td><td class="error-text">exhausted</td>');
    expect(detail).toMatch(/<pre>TypeError: boom &lt;b&gt;ui-1&lt;\/b&gt;\n\s+at /);
    // Reading changed nothing.
    expect(await queueDepth(dead)).toBe(2);

    failing = false;
    const confirm = await ui.get('/jobs/ui.flaky/replay?id=ui-1');
    const refused = await ui.post('/jobs/ui.flaky/replay', { id: 'ui-1' });
    expect(refused.status).toBe(403);
    expect(await queueDepth(dead)).toBe(2);
    const replayed = await ui.post('/jobs/ui.flaky/replay', { _csrf: tokenOf(confirm), id: 'ui-1' });
    expect(replayed.status).toBe(200);
    expect(replayed.text).toContain('<li>replayed 1 of 1</li>');
    expect(replayed.text).toContain('Replayed <strong>1 dead letter</strong> of ui.flaky');
    expect(replayed.text).toContain(`1 left in <code>${dead}</code>`);
    await waitFor('the replayed job to run', () => runs.length === 1);
    expect(runs[0]).toMatchObject({ jobId: 'ui-1', attempt: 1 });
    expect(await queueDepth(dead)).toBe(1);
    expect(await ui.get('/overview/table')).toMatch(/class="has-dead"[^>]*>1<\/a>/);

    // Purge what is left, confirmed with its count.
    const purge = await ui.get('/jobs/ui.flaky/purge');
    const purged = await ui.post('/jobs/ui.flaky/purge', { _csrf: tokenOf(purge), count: '1' });
    expect(purged.text).toContain(`Deleted 1 dead letter from <code>${dead}</code>`);
    expect(await queueDepth(dead)).toBe(0);
  });

  it('edit and replay: a payload its schema refused is fixed on the page and handled, with its message id', async () => {
    const received: Array<{ payload: unknown; ctx: JobContext }> = [];
    const job = defineJob('ui.strict', (payload, ctx) => void received.push({ payload, ctx }), {
      schema: z.object({ to: z.string().email() }),
    });
    harness = await startHarness([job]);
    const { config } = harness;
    // Published around the client's own check, as another language's publisher would: the worker refuses it.
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    channel.publish(`${config.namespace}.jobs`, 'ui.strict', Buffer.from('{"to":"not-an-address"}'), {
      messageId: 'strict-1',
      contentType: 'application/json',
      persistent: true,
    });
    await channel.waitForConfirms();
    await connection.close();
    const dead = deadQueue(config.namespace, 'ui.strict');
    await waitFor('the invalid payload to be dead-lettered', async () => (await queueDepth(dead)) === 1);

    const ui = await serveUi({ config, registry: new Registry().register(job) });
    const list = await ui.get('/jobs/ui.strict/dead-letters');
    expect(list).toContain('invalid_payload');
    const detailPath = /<a href="(\/jobs\/ui\.strict\/dead-letters\/strict-1%7C[^"]+)">/.exec(list)?.[1] ?? '';
    const form = await ui.get(`${detailPath}/edit`);
    const token = tokenOf(form);
    const refused = await ui.post('/jobs/ui.strict/edit', {
      _csrf: token,
      id: 'strict-1',
      payload: '{"to":"still wrong"}',
    });
    expect(refused.status).toBe(400);
    expect(await queueDepth(dead)).toBe(1);
    const fixed = await ui.post('/jobs/ui.strict/edit', {
      _csrf: token,
      id: 'strict-1',
      payload: '{"to":"a@example.com"}',
    });
    expect(fixed.text).toContain('Replayed <strong>1 dead letter</strong> of ui.strict');
    await waitFor('the fixed job to run', () => received.length === 1);
    expect(received[0]).toMatchObject({ payload: { to: 'a@example.com' }, ctx: { jobId: 'strict-1', attempt: 1 } });
    expect(await queueDepth(dead)).toBe(0);
  });

  it('"trigger now" publishes the schedule\'s job, which runs with the schedule\'s message id', async () => {
    const runs: JobContext[] = [];
    const job = defineJob('ui.nightly', (_payload: unknown, ctx) => void runs.push(ctx));
    harness = await startHarness([job]);
    const schedule = defineSchedule({
      name: 'ui-nightly',
      cron: '0 3 * * *',
      timeZone: 'Europe/Berlin',
      jobType: 'ui.nightly',
      payload: { day: 'today' },
    });
    const ui = await serveUi({ config: harness.config, registry: new Registry().register(job), schedules: [schedule] });
    const page = await ui.get('/schedules');
    expect(page).toContain('<td><code>0 3 * * *</code></td><td>Europe/Berlin</td><td>ui.nightly</td>');
    expect(page.match(/<time datetime="[^"]+T0[12]:00:00\.000Z"/g)).toHaveLength(3);
    const confirm = await ui.get('/schedules/ui-nightly/trigger');
    const done = await ui.post('/schedules/ui-nightly/trigger', { _csrf: tokenOf(confirm) });
    expect(done.status).toBe(200);
    const messageId = /message id <code>(ui-nightly@[^<]+)<\/code>/.exec(done.text)?.[1];
    expect(messageId).toMatch(/^ui-nightly@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    await waitFor('the triggered job to run', () => runs.length === 1);
    expect(runs[0]?.jobId).toBe(messageId);
  });
});
