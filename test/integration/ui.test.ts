import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { Registry, deadQueue, defineJob, defineSchedule, jobQueue, type JobContext, type WarrenConfig } from 'warren';
import { createWarrenUi, type WarrenUiOptions } from 'warren/ui';
import { queueDepth, rawConnection, testManagementApi, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

// The web UI on the real broker (and Redis, for the schedules page): a job fails into its dead-letter queue, the
// pages show it, and a POST with the page's token replays it through warren dlq's own replay. The overview's
// management-backed figures are read from the broker's own management API (the one beside the broker under test).

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

describe('the overview on the broker and its management API', () => {
  let harness: Harness | undefined;
  let release: () => void = () => {};
  afterEach(async () => {
    // Let the held jobs finish first: the worker's stop would otherwise wait out its grace time.
    release();
    await harness?.close();
    harness = undefined;
  });

  /**
   * A worker holding 2 deliveries of `uim.held` unacknowledged (prefetch 2, its handler awaiting a gate) with 3 more
   * ready behind them, and consuming `uim.other`, which the UI's registry leaves out: its queues exist all the same.
   */
  async function holdJobs(): Promise<{ held: ReturnType<typeof defineJob>; config: WarrenConfig }> {
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    const held = defineJob(
      'uim.held',
      async () => {
        running += 1;
        await gate;
      },
      { concurrency: 2, prefetch: 2 },
    );
    const other = defineJob('uim.other', () => {});
    harness = await startHarness([held, other]);
    const { client, config } = harness;
    for (let i = 0; i < 5; i += 1) await client.publish('uim.held', { i });
    await waitFor('2 jobs running', () => running === 2);
    await waitFor('3 jobs ready', async () => (await queueDepth(jobQueue(config.namespace, 'uim.held'))) === 3);
    return { held, config };
  }

  /** A job type's row of the overview's table, from its name to the end of the row. */
  const rowOf = (table: string, jobType: string): string =>
    new RegExp(`<tr>\\n<td><strong>${jobType.replace(/[.]/g, '\\.')}</strong>[^]*?</tr>`).exec(table)?.[0] ?? '';
  /** The row's figures after the job type: depth, ready, unacked, consumers, in, delivered, acked. */
  const figuresOf = (row: string): string[] =>
    [...row.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((match) => match[1] ?? '');

  it('shows the unacknowledged count of held deliveries and a job type not in handlers, from the management API', async () => {
    const { held, config } = await holdJobs();
    // The management API beside the broker under test (RabbitMQ 3.10's or 4.0's), its credentials from the AMQP URL.
    const { base } = testManagementApi();
    const ui = await serveUi({ config, registry: new Registry().register(held), managementUrl: base });

    // (A queue not yet sampled shows a dash, never 0: the unit tests of ManagementApi check it. Read here at once, a
    // sample taken between the declare and the deliveries would show a true 0, so the live read cannot tell.)
    // The management API samples queues every few seconds: poll until the held deliveries show.
    let table = '';
    await waitFor(
      'the overview to show 2 unacknowledged, a publish rate, and uim.other sampled',
      async () => {
        table = await ui.get('/overview/table');
        const figures = figuresOf(rowOf(table, 'uim.held'));
        return figures[2] === '2' && figures[4] !== '—' && figuresOf(rowOf(table, 'uim.other'))[2] === '0';
      },
      30_000,
      500,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last table:\n${table}`, { cause: error });
    });
    expect(table).toContain(`RabbitMQ's management API at ${base} (vhost /).`);
    expect(table).not.toContain('cannot be read');
    const [depth, ready, unacked, consumers, published] = figuresOf(rowOf(table, 'uim.held'));
    expect({ depth, ready, unacked, consumers }).toEqual({ depth: '5', ready: '3', unacked: '2', consumers: '1' });
    // A rate, not the dash of "not known" (its value depends on when the broker sampled).
    expect(published).toMatch(/^[\d,.]+\/s$/);

    // Known only by its queues: listed after the registered job types, marked, with its figures read all the same.
    const other = rowOf(table, 'uim.other');
    expect(other).toContain(
      '<span class="badge" title="found by its queues; the handlers module does not register it">not in handlers</span>',
    );
    expect(other).toContain(`<span class="muted">${jobQueue(config.namespace, 'uim.other')}</span>`);
    expect(figuresOf(other).slice(0, 4)).toEqual(['0', '0', '0', '1']);
    expect(table.indexOf('<strong>uim.held</strong>')).toBeLessThan(table.indexOf('<strong>uim.other</strong>'));
    expect(rowOf(table, 'uim.held')).not.toContain('not in handlers');
  });

  it("with managementUrl 'none', says the management API is off: ready counts, and a dash for the unacknowledged", async () => {
    const { held, config } = await holdJobs();
    const ui = await serveUi({
      config,
      registry: new Registry().register(held),
      managementUrl: 'none',
    });
    const table = await ui.get('/overview/table');
    expect(table).toContain('The management API is turned off');
    expect(table).not.toContain("RabbitMQ's management API at");
    const [depth, ready, unacked, consumers, published] = figuresOf(rowOf(table, 'uim.held'));
    expect({ depth, ready, unacked, consumers, published }).toEqual({
      depth: '—',
      ready: '3',
      unacked: '—',
      consumers: '1',
      published: '—',
    });
    // Without the listing, a job type is known only from the registry.
    expect(table).not.toContain('uim.other');
    expect(table).not.toContain('not in handlers');
  });
});
