import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConnectionError,
  DeadLetterAdmin,
  DeadLetterReplay,
  HEADERS,
  IllegalStateError,
  UnroutableError,
  deadQueue,
  defineJob,
  jobQueue,
  type JobContext,
  type WarrenConfig,
} from 'warren';
import { legacyReplayLedgerQueue, replayLockQueue } from '../../src/topology/names.js';
import {
  AMQP_URL,
  deleteNamespace,
  memoryLogger,
  queueDepth,
  rawConnection,
  testConfig,
  waitFor,
} from '../helpers/broker.js';
import {
  countIds,
  drainQueue,
  fillDeadLetters,
  limitQueueLength,
  readIds,
  waitUntilUnconsumed,
} from '../helpers/dlq-dead-letters.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const { logger } = memoryLogger('silent');

async function admin(config: WarrenConfig): Promise<DeadLetterAdmin> {
  const tools = new DeadLetterAdmin({ config, logger });
  await tools.start();
  cleanups.push(() => tools.close());
  return tools;
}

function replay(
  config: WarrenConfig,
  jobType: string,
  options: Omit<ConstructorParameters<typeof DeadLetterReplay>[0], 'config' | 'logger' | 'jobType'> = {},
): DeadLetterReplay {
  return new DeadLetterReplay({ config, logger, jobType, ...options });
}

/** A config of its own namespace with `jobTypes` declared and `count` dead letters of the first, deleted afterwards. */
async function withDeadLetters(jobType: string, count: number): Promise<{ config: WarrenConfig; ids: string[] }> {
  const config = testConfig();
  cleanups.push(() => deleteNamespace(config.namespace, [jobType]));
  const ids = await fillDeadLetters(config.namespace, [jobType], count);
  return { config, ids };
}

describe('dead letters from a failing handler: peek, replay, purge', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('peek shows the context and leaves them; replay brings them back at attempt 1 with their ids; purge removes', async () => {
    let failing = true;
    const runs: JobContext[] = [];
    const job = defineJob('dlq.flaky', (_payload: { n: number }, ctx) => {
      if (failing) throw new TypeError(`boom ${ctx.jobId}`);
      runs.push(ctx);
    });
    harness = await startHarness([job], { config: { maxAttempts: 1 } });
    const { client, config } = harness;
    const ids = ['f-0', 'f-1', 'f-2', 'f-3', 'f-4'];
    for (const [n, id] of ids.entries()) await client.publish('dlq.flaky', { n }, { messageId: id });
    const dead = deadQueue(config.namespace, 'dlq.flaky');
    await waitFor('5 dead letters', async () => (await queueDepth(dead)) === 5);

    const tools = await admin(config);
    expect(await tools.list(['dlq.flaky', 'dlq.never'])).toEqual([
      { jobType: 'dlq.flaky', queue: dead, messages: 5, declared: true },
      { jobType: 'dlq.never', queue: deadQueue(config.namespace, 'dlq.never'), messages: 0, declared: false },
    ]);
    const peeked = await tools.peek('dlq.flaky', 3);
    expect(peeked).toHaveLength(3);
    const first = peeked.find((c) => c.messageId === 'f-0') ?? peeked[0];
    expect(first).toMatchObject({
      source: 'warren',
      reason: 'exhausted',
      attempts: 1,
      errorName: 'TypeError',
      originalQueue: jobQueue(config.namespace, 'dlq.flaky'),
      originalRoutingKey: 'dlq.flaky',
      workerHost: hostname(),
      workerPid: process.pid,
      contentType: 'application/json',
      type: 'dlq.flaky',
    });
    expect(first?.errorMessage).toMatch(/^boom f-/);
    expect(first?.errorStack).toContain('TypeError: boom');
    expect(first?.lastFailureAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.parse(first?.body ?? '')).toHaveProperty('n');
    // Peeking consumed nothing.
    expect(await queueDepth(dead)).toBe(5);
    const all = await tools.peek('dlq.flaky', 100);
    expect(all.map((c) => c.messageId).sort()).toEqual(ids);
    expect(await queueDepth(dead)).toBe(5);

    failing = false;
    const summary = await replay(config, 'dlq.flaky').run();
    expect(summary).toEqual({
      jobType: 'dlq.flaky',
      queue: jobQueue(config.namespace, 'dlq.flaky'),
      deadLetterQueue: dead,
      total: 5,
      replayed: 5,
      rejected: 0,
      unroutable: 0,
      indeterminate: 0,
      remaining: 0,
      interrupted: false,
    });
    await waitFor('the replayed jobs to run', () => runs.length === 5);
    expect(runs.map((ctx) => ctx.jobId).sort()).toEqual(ids);
    expect(runs.map((ctx) => ctx.attempt)).toEqual([1, 1, 1, 1, 1]);
    const identities = new Map(all.map((c) => [c.messageId, c.identity]));
    for (const ctx of runs) {
      expect(ctx.headers[HEADERS.replayOf]).toBe(identities.get(ctx.jobId));
      expect(ctx.headers[HEADERS.reason]).toBeUndefined();
      expect(ctx.headers[HEADERS.errorName]).toBeUndefined();
      expect(ctx.headers['x-death']).toBeUndefined();
    }
    expect(await queueDepth(dead)).toBe(0);

    failing = true;
    for (const id of ['p-0', 'p-1', 'p-2']) await client.publish('dlq.flaky', { n: 0 }, { messageId: id });
    await waitFor('3 dead letters', async () => (await queueDepth(dead)) === 3);
    expect(await tools.count('dlq.flaky')).toBe(3);
    expect(await tools.purge('dlq.flaky')).toBe(3);
    expect(await queueDepth(dead)).toBe(0);
  });
});

describe('dead letters of the broker (delivery limit)', () => {
  it('are read from x-death and replayed like any other', async () => {
    const { config } = await withDeadLetters('dlq.crash', 0);
    const queue = jobQueue(config.namespace, 'dlq.crash');
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(queue, Buffer.from('{"n":1}'), {
      messageId: 'crash-1',
      contentType: 'application/json',
      persistent: true,
    });
    await channel.waitForConfirms();
    // A worker that dies with the message every time: returned until the broker gives up (delivery limit 5).
    await waitFor('the broker to dead-letter it', async () => {
      const message = await channel.get(queue, { noAck: false });
      if (message) channel.reject(message, true);
      return (await queueDepth(deadQueue(config.namespace, 'dlq.crash'))) === 1;
    });

    const [context] = await (await admin(config)).peek('dlq.crash', 10);
    expect(context).toMatchObject({
      messageId: 'crash-1',
      source: 'broker',
      reason: 'delivery_limit',
      originalQueue: queue,
      // Returned more than the limit (5) times: delivered 6 times, the last of them attempt 6.
      deliveries: config.deliveryLimit + 1,
      attempts: config.deliveryLimit + 1,
    });
    expect(context?.identity).toMatch(/^crash-1\|\d{4}-/);

    expect(await replay(config, 'dlq.crash').run()).toMatchObject({ replayed: 1, remaining: 0 });
    const [back] = await drainQueue(queue);
    expect(back?.properties.messageId).toBe('crash-1');
    expect(back?.properties.headers?.['x-death']).toBeUndefined();
    expect(back?.properties.headers?.['x-first-death-reason']).toBeUndefined();
    expect(back?.properties.headers?.[HEADERS.replayOf]).toBe(context?.identity);
  });
});

describe('replay', () => {
  it('keeps body and properties, strips the failure headers, keeps the others', async () => {
    const { config, ids } = await withDeadLetters('dlq.props', 3);
    expect(await replay(config, 'dlq.props').run()).toMatchObject({ total: 3, replayed: 3, remaining: 0 });
    const copies = await drainQueue(jobQueue(config.namespace, 'dlq.props'));
    expect(copies.map((m) => m.properties.messageId).sort()).toEqual(ids);
    for (const copy of copies) {
      const n = Number(String(copy.properties.messageId).slice(3));
      expect(JSON.parse(copy.content.toString())).toEqual({ n });
      expect(copy.fields.routingKey).toBe('replay.dlq.props');
      expect(copy.properties).toMatchObject({ contentType: 'application/json', type: 'dlq.props', deliveryMode: 2 });
      expect(typeof copy.properties.timestamp).toBe('number');
      const headers = copy.properties.headers ?? {};
      expect(
        Object.keys(headers)
          .filter((name) => name !== 'x-delivery-count')
          .sort(),
      ).toEqual(['x-app-tag', HEADERS.replayOf]);
      expect(headers['x-delivery-count'] ?? 0).toBe(0);
      expect(headers[HEADERS.replayOf]).toMatch(new RegExp(`^${String(copy.properties.messageId)}\\|`));
    }
  });

  it('--limit takes the first N; a dead letter whose copy already reached the job queue is sent again, not lost', async () => {
    const { config, ids } = await withDeadLetters('dlq.limit', 10);
    const contexts = await (await admin(config)).peek('dlq.limit', 10);
    // As a replay killed after a confirm and before that ack leaves it: the copy in the job queue, the dead letter
    // still queued. With no ledger to trust, the next replay sends it again: a duplicate, never a loss.
    const last = contexts[contexts.length - 1];
    if (!last) throw new Error('no dead letters');
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(jobQueue(config.namespace, 'dlq.limit'), Buffer.from('{}'), { messageId: last.messageId });
    await channel.waitForConfirms();

    const firstRun = await replay(config, 'dlq.limit', { limit: 4 }).run();
    expect(firstRun).toMatchObject({ total: 4, replayed: 4, rejected: 0, indeterminate: 0, remaining: 6 });
    const dry = await replay(config, 'dlq.limit').plan();
    expect(dry).toMatchObject({ deadLetters: 6, queueDeclared: true });
    expect(dry.entries).toHaveLength(6);
    expect(dry.legacyLedger).toBeUndefined();
    expect(await queueDepth(deadQueue(config.namespace, 'dlq.limit'))).toBe(6);

    const secondRun = await replay(config, 'dlq.limit').run();
    expect(secondRun).toMatchObject({ total: 6, replayed: 6, remaining: 0 });
    const copies = countIds(await drainQueue(jobQueue(config.namespace, 'dlq.limit')));
    expect([...copies.keys()].sort()).toEqual([...ids].sort());
    expect([...copies].filter(([, times]) => times > 1)).toEqual([[last.messageId, 2]]);
  });

  it("an earlier version's replay ledger: an empty one is deleted; one with messages is left, named, and not trusted", async () => {
    const { config, ids } = await withDeadLetters('dlq.legacy', 4);
    const ledger = legacyReplayLedgerQueue(config.namespace, 'dlq.legacy');
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(ledger, { durable: true, arguments: { 'x-queue-type': 'quorum' } });

    const first = await replay(config, 'dlq.legacy', { limit: 1 }).run();
    expect(first).toMatchObject({ replayed: 1, legacyLedger: { queue: ledger, messages: 0, deleted: true } });
    const probe = await connection.createChannel();
    probe.on('error', () => {});
    expect(await probe.checkQueue(ledger).catch((e: unknown) => e)).toMatchObject({ code: 404 });

    // Entries as an earlier version wrote them, for dead letters still queued: it would have removed those without
    // sending them. They are not trusted now: every dead letter is sent.
    const recorded = await (await admin(config)).peek('dlq.legacy', 3);
    const again = await connection.createConfirmChannel();
    await again.assertQueue(ledger, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const context of recorded) {
      again.sendToQueue(ledger, Buffer.from('{}'), {
        messageId: context.messageId,
        headers: { [HEADERS.replayOf]: context.identity },
      });
    }
    await again.waitForConfirms();
    const plan = await replay(config, 'dlq.legacy').plan();
    expect(plan.legacyLedger).toEqual({ queue: ledger, messages: 3, deleted: false });
    const rest = await replay(config, 'dlq.legacy').run();
    expect(rest).toMatchObject({
      replayed: 3,
      remaining: 0,
      legacyLedger: { queue: ledger, messages: 3, deleted: false },
    });
    expect(await queueDepth(ledger)).toBe(3);
    const copies = countIds(await drainQueue(jobQueue(config.namespace, 'dlq.legacy')));
    expect([...copies.keys()].sort()).toEqual([...ids].sort());
    expect([...copies.values()]).toEqual([1, 1, 1, 1]);
  });

  it('a replay stopped by its signal settles what it has in flight; the next one finishes it, each dead letter once', async () => {
    const { config, ids } = await withDeadLetters('dlq.stop', 1_000);
    const controller = new AbortController();
    const stopped = await replay(config, 'dlq.stop', {
      signal: controller.signal,
      // Stopped in the middle of a window of unconfirmed copies.
      onProgress: ({ replayed }) => void (replayed === 300 && setTimeout(() => controller.abort(), 5)),
    }).run();
    expect(stopped).toMatchObject({ total: 1_000, interrupted: true, rejected: 0, indeterminate: 0 });
    expect(stopped.failure).toBeUndefined();
    expect(stopped.replayed).toBeGreaterThanOrEqual(300);
    expect(stopped.replayed).toBeLessThan(1_000);
    expect(stopped.remaining).toBe(1_000 - stopped.replayed);
    expect(stopped.remaining).toBe(await queueDepth(deadQueue(config.namespace, 'dlq.stop')));

    const rest = await replay(config, 'dlq.stop').run();
    expect(rest).toMatchObject({ total: stopped.remaining, replayed: stopped.remaining, remaining: 0 });
    const copies = countIds(await drainQueue(jobQueue(config.namespace, 'dlq.stop')));
    expect([...copies.keys()].sort()).toEqual([...ids].sort());
    // A clean stop waits for every copy in flight and acknowledges it: nothing repeats.
    expect([...copies].filter(([, times]) => times > 1)).toEqual([]);
  });

  it('a job queue that refuses copies (max-length, reject-publish): their dead letters stay, the summary says why', async () => {
    const { config, ids } = await withDeadLetters('dlq.full', 300);
    const queue = jobQueue(config.namespace, 'dlq.full');
    const dead = deadQueue(config.namespace, 'dlq.full');
    const unlimit = await limitQueueLength(queue, 100);
    cleanups.push(unlimit);

    const full = await replay(config, 'dlq.full', { maxUnconfirmed: 20 }).run();
    expect(full.failure?.code).toBe('WARREN_ERR_PUBLISH_REJECTED');
    expect(full.failure?.message).toMatch(
      new RegExp(
        `^RabbitMQ refused the copy of dead letter dl-\\d+ of "dlq\\.full" \\(basic\\.nack\\): .*job\\.dlq\\.full is most ` +
          `likely at its length limit .*; the dead letter stays in .*dead\\.dlq\\.full; .*job\\.dlq\\.full holds \\d+ messages$`,
      ),
    );
    expect(full.rejected).toBeGreaterThanOrEqual(1);
    // The queue took copies until it reached its limit (quorum queues enforce it a little late, never early).
    expect(full.replayed).toBeGreaterThanOrEqual(100);
    expect(full.replayed).toBeLessThan(300);
    expect(full).toMatchObject({ unroutable: 0, indeterminate: 0, remaining: 300 - full.replayed });

    // By id: what is in the job queue was removed from the dead-letter queue, and everything else is still there.
    const copies = countIds(await drainQueue(queue));
    const left = await readIds(dead);
    expect(copies.size).toBe(full.replayed);
    expect([...copies.values()].every((times) => times === 1)).toBe(true);
    expect([...copies.keys()].filter((id) => left.has(id))).toEqual([]);
    expect([...copies.keys(), ...left.keys()].sort()).toEqual([...ids].sort());

    await unlimit();
    const rest = await replay(config, 'dlq.full').run();
    expect(rest).toMatchObject({ total: full.remaining, replayed: full.remaining, remaining: 0 });
    expect(rest.failure).toBeUndefined();
    expect([...countIds(await drainQueue(queue)).keys()].sort()).toEqual([...left.keys()].sort());
  });

  it('a copy not confirmed in time is indeterminate: its dead letter stays, even when the copy arrives later', async () => {
    const { config: direct, ids } = await withDeadLetters('dlq.slow', 200);
    const proxy = new TcpProxy(Number(new URL(AMQP_URL).port || 5672));
    const port = await proxy.start();
    cleanups.push(() => proxy.stop());
    const url = new URL(AMQP_URL);
    url.port = String(port);
    const config = { ...direct, amqpUrl: url.toString(), publishTimeoutMs: 500 };

    const slow = await replay(config, 'dlq.slow', {
      maxUnconfirmed: 10,
      // From the 50th on, the copies wait in the proxy for 1.5 s (the replay's second connection is the publishing
      // one): those in flight then time out, and reach the broker after that.
      onProgress: ({ replayed }) => {
        if (replayed !== 50) return;
        proxy.hold(1);
        setTimeout(() => proxy.release(), 1_500);
      },
    }).run();
    expect(slow.failure?.code).toBe('WARREN_ERR_PUBLISH_TIMEOUT');
    expect(slow.failure?.message).toMatch(
      /^no confirm for the copy of dead letter dl-\d+ of "dlq\.slow" within 500 ms: the outcome is indeterminate \(the copy may still arrive\); the dead letter stays in .*dead\.dlq\.slow, and a rerun sends it again$/,
    );
    expect(slow.indeterminate).toBeGreaterThanOrEqual(1);
    expect(slow.indeterminate).toBeLessThanOrEqual(10);
    expect(slow.replayed).toBeGreaterThanOrEqual(50);
    expect(slow).toMatchObject({ rejected: 0, unroutable: 0, remaining: 200 - slow.replayed });

    const copies = countIds(await drainQueue(jobQueue(direct.namespace, 'dlq.slow')));
    const left = await readIds(deadQueue(direct.namespace, 'dlq.slow'));
    // The late copies are in the job queue, and their dead letters were not removed.
    const both = [...copies.keys()].filter((id) => left.has(id));
    expect(both).toHaveLength(slow.indeterminate);
    expect(copies.size).toBe(slow.replayed + slow.indeterminate);
    expect(new Set([...copies.keys(), ...left.keys()]).size).toBe(ids.length);

    const rest = await replay(direct, 'dlq.slow').run();
    expect(rest).toMatchObject({ replayed: slow.remaining, remaining: 0 });
    const again = countIds(await drainQueue(jobQueue(direct.namespace, 'dlq.slow')));
    expect([...new Set([...copies.keys(), ...again.keys()])].sort()).toEqual([...ids].sort());
    // What repeats is exactly the indeterminate copies.
    expect([...again.keys()].filter((id) => copies.has(id)).sort()).toEqual(both.sort());
  });

  it('a connection cut mid-replay removes nothing without its copy; the rerun completes it', async () => {
    const { config: direct, ids } = await withDeadLetters('dlq.cut', 1_000);
    const proxy = new TcpProxy(Number(new URL(AMQP_URL).port || 5672));
    const port = await proxy.start();
    cleanups.push(() => proxy.stop());
    const url = new URL(AMQP_URL);
    url.port = String(port);
    const config = { ...direct, amqpUrl: url.toString() };

    const error = await replay(config, 'dlq.cut', {
      onProgress: ({ replayed }) => void (replayed === 200 && proxy.cut()),
    })
      .run()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(
      /closed .*; \d+ replayed(, \d+ unconfirmed)? before the connection was lost/,
    );
    expect((error as Error).message).toMatch(/Nothing was lost/);
    await waitUntilUnconsumed(deadQueue(direct.namespace, 'dlq.cut'));

    const rest = await replay(direct, 'dlq.cut').run();
    expect(rest).toMatchObject({ remaining: 0 });
    const copies = countIds(await drainQueue(jobQueue(direct.namespace, 'dlq.cut')));
    expect([...copies.keys()].sort()).toEqual([...ids].sort());
    const repeated = [...copies.values()].filter((times) => times > 1);
    // At most the dead letters the cut replay held (its prefetch, 100 by default), each at most twice.
    expect(repeated.length).toBeLessThanOrEqual(100);
    expect(repeated.every((times) => times === 2)).toBe(true);
  });

  it('stops before acknowledging anything when the job queue does not exist', async () => {
    const { config } = await withDeadLetters('dlq.orphan', 3);
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    await (await connection.createChannel()).deleteQueue(jobQueue(config.namespace, 'dlq.orphan'));
    const error = await replay(config, 'dlq.orphan')
      .run()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnroutableError);
    expect((error as Error).message).toMatch(
      /cannot replay the dead letters of "dlq\.orphan": its queue .*job\.dlq\.orphan does not exist/,
    );
    expect(await queueDepth(deadQueue(config.namespace, 'dlq.orphan'))).toBe(3);
  });

  it('by message id: replays only those, keeps the order and the others, names the ids it did not find', async () => {
    const { config, ids } = await withDeadLetters('dlq.some', 8);
    const dead = deadQueue(config.namespace, 'dlq.some');
    const dry = await replay(config, 'dlq.some', { messageIds: ['dl-5', 'dl-2', 'nope'] }).plan();
    expect(dry.entries.map((entry) => entry.context.messageId)).toEqual(['dl-2', 'dl-5']);
    expect(dry.notFound).toEqual(['nope']);

    const summary = await replay(config, 'dlq.some', { messageIds: ['dl-5', 'dl-2', 'nope'] }).run();
    expect(summary).toMatchObject({ total: 3, replayed: 2, indeterminate: 0, remaining: 6, notFound: ['nope'] });
    const copies = countIds(await drainQueue(jobQueue(config.namespace, 'dlq.some')));
    expect([...copies]).toEqual(
      expect.arrayContaining([
        ['dl-2', 1],
        ['dl-5', 1],
      ]),
    );
    expect(copies.size).toBe(2);
    // The others stayed, every one, in their order.
    expect((await (await admin(config)).peek('dlq.some', 10)).map((c) => c.messageId)).toEqual(
      ids.filter((id) => id !== 'dl-2' && id !== 'dl-5'),
    );
    expect(await queueDepth(dead)).toBe(6);
  });

  it('by message id: refuses more ids than maxUnconfirmed, and limit with ids', () => {
    const config = testConfig();
    expect(() => replay(config, 'dlq.x', { messageIds: ['a', 'b', 'c'], maxUnconfirmed: 2 })).toThrow(
      /messageIds must name 1 to 2 message ids/,
    );
    expect(() => replay(config, 'dlq.x', { messageIds: [] })).toThrow(ConfigError);
    expect(() => replay(config, 'dlq.x', { messageIds: ['a'], limit: 1 })).toThrow(/limit and messageIds/);
    expect(() => replay(config, 'dlq.x', { messageIds: ['a'], scanLimit: 70_000 })).toThrow(/scanLimit/);
  });

  it('refuses to run next to another replay of the same job type', async () => {
    const { config } = await withDeadLetters('dlq.locked', 2);
    const holder = await rawConnection();
    cleanups.push(() => holder.close());
    await (
      await holder.createChannel()
    ).assertQueue(replayLockQueue(config.namespace, 'dlq.locked'), { exclusive: true, durable: false });
    const error = await replay(config, 'dlq.locked')
      .run()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IllegalStateError);
    expect((error as Error).message).toMatch(/another replay of "dlq\.locked" is running/);
    expect(await queueDepth(deadQueue(config.namespace, 'dlq.locked'))).toBe(2);
  });

  it('names the job type when it has no dead-letter queue', async () => {
    const config = testConfig();
    const tools = await admin(config);
    const pattern = /job type "dlq\.missing" has no dead-letter queue: .*dead\.dlq\.missing does not exist/;
    for (const attempt of [
      () => tools.peek('dlq.missing', 1),
      () => tools.purge('dlq.missing'),
      () => replay(config, 'dlq.missing').run(),
      () => replay(config, 'dlq.missing').plan(),
    ]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(pattern);
    }
  });
});
