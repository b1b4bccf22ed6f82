import { join } from 'node:path';
import type { ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NonRetryableError,
  Registry,
  TopologyConflictError,
  WarrenClient,
  Worker,
  deadExchange,
  deadQueue,
  defineJob,
  jobQueue,
} from 'warren';
import { DeadLetterAdmin } from '../../src/dlq/dead-letter-admin.js';
import { deadLetterLimitPolicy } from '../../src/topology/topology-plan.js';
import { AMQP_URL, deleteNamespace, memoryLogger, rawConnection, run, testConfig, waitFor } from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';

// Dead-letter queues are read by `warren dlq peek` and `replay --dry-run` any number of times. These tests cover the
// queues an earlier warren declared without the delivery limit that makes that safe: a worker still starts over
// them, says once how to fix them, and the operator policy it names does fix them. Run on 3.10 and on 4.0.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** `rabbitmqctl` of the test broker: the machine's for 5672, the 4.0 node's (`.ci/rabbitmq4 ctl`) for another port. */
async function rabbitmqctl(args: readonly string[]): Promise<string> {
  const port = new URL(AMQP_URL).port || '5672';
  const [command, prefix] = port === '5672' ? ['rabbitmqctl', []] : ['bash', [join(ROOT, '.ci/rabbitmq4'), 'ctl']];
  const { stdout } = await run(command, [...prefix, ...args], {
    env: { ...process.env, WARREN_RABBITMQ4_PORT: port },
    timeout: 60_000,
  });
  return stdout;
}

/** Declares a dead-letter queue the way warren did before (`x-queue-type` alone) and puts `count` dead letters in it. */
async function legacyDeadLetterQueue(namespace: string, jobType: string, count: number): Promise<string[]> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(deadQueue(namespace, jobType), {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    const ids = Array.from({ length: count }, (_, n) => `legacy-${n}`);
    for (const [n, messageId] of ids.entries()) {
      channel.sendToQueue(deadQueue(namespace, jobType), Buffer.from(JSON.stringify({ n })), {
        messageId,
        contentType: 'application/json',
        persistent: true,
        headers: { 'x-warren-reason': 'exhausted', 'x-warren-attempt': 3 },
      });
    }
    await channel.waitForConfirms();
    await channel.close();
    return ids;
  } finally {
    await connection.close();
  }
}

/** Messages ready in a queue and its consumers, or undefined when it does not exist (checked on a channel of its own). */
async function status(
  model: ChannelModel,
  queue: string,
): Promise<{ messages: number; consumers: number } | undefined> {
  const channel = await model.createChannel();
  channel.on('error', () => {});
  try {
    const { messageCount, consumerCount } = await channel.checkQueue(queue);
    return { messages: messageCount, consumers: consumerCount };
  } catch {
    return undefined;
  } finally {
    await channel.close().catch(() => {});
  }
}

async function startAdmin(namespace: string): Promise<DeadLetterAdmin> {
  const admin = new DeadLetterAdmin({ config: testConfig({ namespace }), logger: memoryLogger().logger });
  await admin.start();
  cleanups.push(() => admin.close());
  return admin;
}

/** The message ids `peek(limit)` shows, `times` times over. */
async function peekIds(admin: DeadLetterAdmin, jobType: string, limit: number, times: number): Promise<string[][]> {
  const seen: string[][] = [];
  for (let n = 0; n < times; n += 1) seen.push((await admin.peek(jobType, limit)).map((c) => c.messageId ?? '?'));
  return seen;
}

describe('a dead-letter queue declared by an earlier warren (no x-delivery-limit)', () => {
  it('a worker starts over it, warns once with the exact fix, and keeps dead-lettering into it', async () => {
    const config = testConfig({ maxAttempts: 1 });
    const { namespace } = config;
    const jobType = 'reads.legacy';
    const queue = deadQueue(namespace, jobType);
    cleanups.push(() => deleteNamespace(namespace, [jobType]));
    await legacyDeadLetterQueue(namespace, jobType, 5);

    const { logger, lines } = memoryLogger('warn');
    const job = defineJob(jobType, (payload: { id: string }) => {
      throw new NonRetryableError(`declined ${payload.id}`);
    });
    const worker = new Worker({ config, registry: new Registry().add([job]), logger });
    cleanups.push(() => worker.stop());
    await worker.start();
    expect(worker.ready).toBe(true);
    const warnings = (): Array<Record<string, unknown>> =>
      lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l['deadLetterQueue'] === queue);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 40, component: 'consumer', queue: jobQueue(namespace, jobType) });
    expect(warnings()[0]?.['msg']).toContain(`${queue} was declared by an earlier warren without x-delivery-limit`);
    expect(warnings()[0]?.['msg']).toContain(deadLetterLimitPolicy(namespace).command);

    const client = new WarrenClient({ config, logger });
    cleanups.push(() => client.close());
    await client.start();
    const model = await rawConnection();
    cleanups.push(() => model.close());
    await client.publish(jobType, { id: 'a' }, { messageId: 'job-a' });
    await waitFor(
      'the first dead letter in the legacy queue',
      async () => (await status(model, queue))?.messages === 6,
    );

    // The job queue deleted under the worker: the broker cancels its consumer, and the worker declares its topology
    // again (the legacy dead-letter queue included) and re-subscribes, without a second warning.
    const channel = await model.createChannel();
    await channel.deleteQueue(jobQueue(namespace, jobType));
    await channel.close();
    await waitFor(
      'the worker consuming its re-declared job queue',
      async () => (await status(model, jobQueue(namespace, jobType)))?.consumers === 1,
    );
    await client.publish(jobType, { id: 'b' }, { messageId: 'job-b' });
    await waitFor(
      'the second dead letter in the legacy queue',
      async () => (await status(model, queue))?.messages === 7,
    );
    expect(warnings()).toHaveLength(1);

    const admin = await startAdmin(namespace);
    expect(await admin.lacksDeliveryLimit(jobType)).toBe(true);
    const ids = (await admin.peek(jobType, 10)).map((c) => [c.messageId, c.reason]);
    expect(ids).toEqual([
      ...Array.from({ length: 5 }, (_, n) => [`legacy-${n}`, 'exhausted']),
      ['job-a', 'non_retryable'],
      ['job-b', 'non_retryable'],
    ]);
  });

  it('without a fix reads take dead letters out (4.x) or reorder them (3.x); the operator policy the warning names keeps them all, in order', async () => {
    const { namespace } = testConfig();
    const [broken, fixed] = ['reads.unfixed', 'reads.fixed'];
    cleanups.push(() => deleteNamespace(namespace, [broken, fixed]));
    const brokenIds = await legacyDeadLetterQueue(namespace, broken, 5);
    const fixedIds = await legacyDeadLetterQueue(namespace, fixed, 5);
    const admin = await startAdmin(namespace);

    // The control: 21 reads of the first 2 of 5. RabbitMQ 4.0 drops the 2 on their 21st return (a quorum queue
    // without a limit has one of 20); 3.x puts each return at the end, so 42 returns rotate the queue by 2.
    await peekIds(admin, broken, 2, 21);
    expect(await peekIds(admin, broken, 10, 1)).not.toEqual([brokenIds]);

    const policy = deadLetterLimitPolicy(namespace);
    await rabbitmqctl([
      'set_operator_policy',
      policy.name,
      policy.pattern,
      JSON.stringify(policy.definition),
      '--apply-to',
      'queues',
    ]);
    cleanups.push(() => rabbitmqctl(['clear_operator_policy', policy.name]));
    // The policy covers the broken queue too, but what it lost is gone: only the fixed one is read from here on.
    const seen = await peekIds(admin, fixed, 2, 30);
    expect(seen).toEqual(Array.from({ length: 30 }, () => fixedIds.slice(0, 2)));
    expect(await peekIds(admin, fixed, 10, 1)).toEqual([fixedIds]);
    // warren cannot see policies: the queue still lacks the argument, and peek keeps saying so.
    expect(await admin.lacksDeliveryLimit(fixed)).toBe(true);
  });

  it('one that differs in more than the delivery limit still stops startup, naming the queue and the argument', async () => {
    const config = testConfig({ queueType: 'quorum' });
    const jobType = 'reads.classic';
    const queue = deadQueue(config.namespace, jobType);
    cleanups.push(() => deleteNamespace(config.namespace, [jobType]));
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await connection.close();
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob(jobType, () => {})]),
      logger: memoryLogger().logger,
    });
    cleanups.push(() => worker.stop());
    const error = await worker.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(TopologyConflictError);
    expect(error?.message).toContain(`queue "${queue}"`);
    expect(error?.message).toContain('warren declares "quorum", the existing queue has "classic"');
  });
});

describe('a dead-letter queue declared by this warren', () => {
  it('has the delivery limit: not called legacy, nothing lost to 30 reads, the order kept as the README says', async () => {
    const config = testConfig();
    const jobType = 'reads.current';
    cleanups.push(() => deleteNamespace(config.namespace, [jobType]));
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob(jobType, () => {})]),
      logger: memoryLogger().logger,
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const connection = await rawConnection();
    cleanups.push(() => connection.close());
    const channel = await connection.createConfirmChannel();
    for (let n = 0; n < 5; n += 1) {
      channel.publish(deadExchange(config.namespace), jobType, Buffer.from('{}'), {
        messageId: `d-${n}`,
        persistent: true,
      });
    }
    await channel.waitForConfirms();
    const admin = await startAdmin(config.namespace);
    expect(await admin.lacksDeliveryLimit(jobType)).toBe(false);
    const ids = Array.from({ length: 5 }, (_, n) => `d-${n}`);
    expect(await peekIds(admin, jobType, 2, 30)).toEqual(Array.from({ length: 30 }, () => ids.slice(0, 2)));
    expect(await peekIds(admin, jobType, 10, 2)).toEqual([ids, ids]);

    // The order rule the README and `peek --help` state: what is given back goes ahead of what was never read,
    // behind what was given back before it. All 5 were; a read of the first 2 puts those 2 behind the other 3.
    expect(await peekIds(admin, jobType, 2, 2)).toEqual([
      ['d-0', 'd-1'],
      ['d-2', 'd-3'],
    ]);
    expect(await peekIds(admin, jobType, 5, 1)).toEqual([['d-4', 'd-0', 'd-1', 'd-2', 'd-3']]);
  });
});
