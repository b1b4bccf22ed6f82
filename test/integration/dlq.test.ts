import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
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
import { replayLockQueue } from '../../src/topology/names.js';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { ledgerTopology } from '../../src/topology/topology-plan.js';
import { replayLedgerQueue, requeueExchange, replayLedgerRoutingKey } from '../../src/topology/names.js';
import { deleteNamespace, memoryLogger, queueDepth, rawConnection, testConfig, waitFor } from '../helpers/broker.js';
import { drainQueue, fillDeadLetters } from '../helpers/dlq-dead-letters.js';
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

function replay(config: WarrenConfig, jobType: string, options: { limit?: number } = {}): DeadLetterReplay {
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
    expect(summary).toMatchObject({
      total: 5,
      replayed: 5,
      skipped: 0,
      remaining: 0,
      ledger: 'purged',
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
    expect(await queueDepth(replayLedgerQueue(config.namespace, 'dlq.flaky'))).toBe(0);

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

  it('--limit takes the first N and keeps the ledger; a dead letter the ledger knows is removed without republishing', async () => {
    const { config, ids } = await withDeadLetters('dlq.limit', 10);
    const tools = await admin(config);
    const contexts = await tools.peek('dlq.limit', 10);
    // As a replay killed after its confirm and before its ack would have left it: the copy in the job queue and
    // the ledger, the dead letter still queued.
    const last = contexts[contexts.length - 1];
    if (!last) throw new Error('no dead letters');
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    await declareTopology(channel, ledgerTopology(config, 'dlq.limit'));
    channel.publish(requeueExchange(config.namespace), 'replay.dlq.limit', Buffer.from('{}'), {
      messageId: last.messageId,
      headers: { [HEADERS.replayOf]: last.identity },
      BCC: [replayLedgerRoutingKey('dlq.limit')],
    });
    await channel.waitForConfirms();

    const ledger = replayLedgerQueue(config.namespace, 'dlq.limit');
    const firstRun = await replay(config, 'dlq.limit', { limit: 4 }).run();
    // A limited replay keeps the ledger: the dead letter it records is still queued.
    expect(firstRun).toMatchObject({ total: 4, replayed: 4, skipped: 0, remaining: 6, ledger: 'kept' });
    expect(await queueDepth(ledger)).toBe(5);

    const dry = await replay(config, 'dlq.limit').plan();
    expect(dry.entries).toHaveLength(6);
    expect(dry.entries.filter((e) => e.alreadyReplayed).map((e) => e.context.messageId)).toEqual([last.messageId]);
    expect(await queueDepth(deadQueue(config.namespace, 'dlq.limit'))).toBe(6);

    const secondRun = await replay(config, 'dlq.limit').run();
    expect(secondRun).toMatchObject({ total: 6, replayed: 5, skipped: 1, remaining: 0, ledger: 'purged' });
    expect(await queueDepth(ledger)).toBe(0);
    const copies = await drainQueue(jobQueue(config.namespace, 'dlq.limit'));
    expect(copies.map((m) => m.properties.messageId).sort()).toEqual([...ids].sort());
  });

  it('a replay stopped by its signal keeps the ledger; the next one finishes it, each dead letter sent once', async () => {
    const { config, ids } = await withDeadLetters('dlq.stop', 1_000);
    const controller = new AbortController();
    const stopped = await new DeadLetterReplay({
      config,
      logger,
      jobType: 'dlq.stop',
      signal: controller.signal,
      // Stopped in the middle of a window of unconfirmed republishes.
      onProgress: ({ done }) => void (done === 300 && setTimeout(() => controller.abort(), 5)),
    }).run();
    expect(stopped).toMatchObject({ total: 1_000, interrupted: true, ledger: 'kept' });
    expect(stopped.replayed).toBeGreaterThanOrEqual(300);
    expect(stopped.replayed).toBeLessThan(1_000);
    expect(stopped.remaining).toBe(await queueDepth(deadQueue(config.namespace, 'dlq.stop')));

    const rest = await replay(config, 'dlq.stop').run();
    expect(rest).toMatchObject({ total: stopped.remaining, remaining: 0, ledger: 'purged', interrupted: false });
    const copies = await drainQueue(jobQueue(config.namespace, 'dlq.stop'));
    expect(copies).toHaveLength(1_000);
    expect(new Set(copies.map((m) => m.properties.messageId)).size).toBe(1_000);
    expect(copies.map((m) => String(m.properties.messageId)).sort()).toEqual([...ids].sort());
    expect(await queueDepth(replayLedgerQueue(config.namespace, 'dlq.stop'))).toBe(0);
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
