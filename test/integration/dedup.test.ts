import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, Registry, WarrenClient, Worker, type DeliveryOutcome, type WarrenConfig } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { deleteRedisNamespace, freePort, sharedRedis, SHARED_REDIS_URL } from '../helpers/redis-server.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const JOB_TYPES = ['dedup.scheduled', 'dedup.idempotent', 'dedup.plain', 'dedup.flaky'] as const;

/** A worker and client on a fresh namespace, recording each handler run and each settled delivery. */
async function start(overrides: Partial<WarrenConfig> = {}) {
  const config = testConfig({
    redisUrl: SHARED_REDIS_URL,
    dedupTtlMs: 120_000,
    retryTiersMs: [500],
    maxAttempts: 3,
    ...overrides,
  });
  const runs: Array<{ jobType: string; jobId: string; attempt: number }> = [];
  const outcomes: Array<{ jobType: string; outcome: DeliveryOutcome }> = [];
  const record = (jobType: string) => (_payload: unknown, ctx: { jobId: string; attempt: number }) =>
    void runs.push({ jobType, jobId: ctx.jobId, attempt: ctx.attempt });
  const handlers = [
    defineJob('dedup.scheduled', record('dedup.scheduled')),
    defineJob('dedup.idempotent', record('dedup.idempotent'), { idempotent: true }),
    defineJob('dedup.plain', record('dedup.plain')),
    defineJob(
      'dedup.flaky',
      (payload: unknown, ctx) => {
        record('dedup.flaky')(payload, ctx);
        if (ctx.attempt === 1) throw new Error('first attempt fails');
      },
      { idempotent: true },
    ),
  ];
  const { logger, lines } = memoryLogger('info');
  const worker = new Worker({
    config,
    registry: new Registry().add(handlers),
    logger,
    onOutcome: (outcome, jobType) => outcomes.push({ jobType, outcome }),
  });
  const client = new WarrenClient({ config, logger });
  cleanups.push(() => deleteRedisNamespace(config.namespace));
  cleanups.push(() => deleteNamespace(config.namespace, JOB_TYPES, [500]));
  cleanups.push(() => worker.stop());
  cleanups.push(() => client.close());
  await worker.start();
  await client.start();
  const settled = (jobType: string): DeliveryOutcome[] =>
    outcomes.filter((o) => o.jobType === jobType).map((o) => o.outcome);
  const ran = (jobType: string, jobId?: string): number =>
    runs.filter((r) => r.jobType === jobType && (jobId === undefined || r.jobId === jobId)).length;
  return { config, worker, client, runs, outcomes, settled, ran, lines };
}

describe('consumer-side de-duplication (Redis SET NX after success)', () => {
  it('a scheduled job delivered twice with its fire id runs once; the second is acked as a duplicate', async () => {
    const { client, config, settled, ran } = await start();
    const id = 'nightly@2026-01-01T03:00:00.000Z';
    await client.publish('dedup.scheduled', { n: 1 }, { messageId: id, schedule: 'nightly' });
    await waitFor('the first delivery to succeed', () => settled('dedup.scheduled').includes('success'));
    await client.publish('dedup.scheduled', { n: 1 }, { messageId: id, schedule: 'nightly' });
    await waitFor('the second delivery to settle', () => settled('dedup.scheduled').length === 2);
    expect(settled('dedup.scheduled')).toEqual(['success', 'duplicate']);
    expect(ran('dedup.scheduled', id)).toBe(1);
    // Recorded under <namespace>:done:<job type>:<message id>, for the de-duplication TTL.
    const redis = sharedRedis();
    cleanups.push(async () => redis.disconnect());
    const pttl = await redis.pttl(`${config.namespace}:done:dedup.scheduled:${id}`);
    expect(pttl).toBeGreaterThan(100_000);
    expect(pttl).toBeLessThanOrEqual(120_000);

    // Another fire of the same schedule is another job.
    await client.publish(
      'dedup.scheduled',
      { n: 2 },
      { messageId: 'nightly@2026-01-02T03:00:00.000Z', schedule: 'nightly' },
    );
    await waitFor('the next fire to run', () => ran('dedup.scheduled') === 2);
  });

  it('a job type with idempotent: true is de-duplicated by message id without any schedule header', async () => {
    const { client, settled, ran } = await start();
    await client.publish('dedup.idempotent', {}, { messageId: 'order-42' });
    await waitFor('the first delivery to succeed', () => settled('dedup.idempotent').includes('success'));
    await client.publish('dedup.idempotent', {}, { messageId: 'order-42' });
    await client.publish('dedup.idempotent', {}, { messageId: 'order-42' });
    await waitFor('three deliveries settled', () => settled('dedup.idempotent').length === 3);
    expect(settled('dedup.idempotent')).toEqual(['success', 'duplicate', 'duplicate']);
    expect(ran('dedup.idempotent', 'order-42')).toBe(1);
  });

  it('a job type without idempotent runs every delivery of the same message id', async () => {
    const { client, settled, ran } = await start();
    await client.publish('dedup.plain', {}, { messageId: 'same-id' });
    await waitFor('the first delivery to succeed', () => settled('dedup.plain').includes('success'));
    await client.publish('dedup.plain', {}, { messageId: 'same-id' });
    await waitFor('two deliveries settled', () => settled('dedup.plain').length === 2);
    expect(settled('dedup.plain')).toEqual(['success', 'success']);
    expect(ran('dedup.plain', 'same-id')).toBe(2);
  });

  it('only a success is recorded: a failed attempt is retried and runs again; a later copy is a duplicate', async () => {
    const { client, settled, runs } = await start();
    await client.publish('dedup.flaky', {}, { messageId: 'flaky-1' });
    await waitFor('the retry to succeed', () => settled('dedup.flaky').includes('success'), 10_000);
    expect(settled('dedup.flaky')).toEqual(['retry', 'success']);
    await client.publish('dedup.flaky', {}, { messageId: 'flaky-1' });
    await waitFor('the copy to settle', () => settled('dedup.flaky').length === 3);
    expect(settled('dedup.flaky')).toEqual(['retry', 'success', 'duplicate']);
    expect(runs.filter((r) => r.jobType === 'dedup.flaky').map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('is per job type: the same message id of two job types runs in each', async () => {
    const { client, ran, settled } = await start();
    await client.publish('dedup.idempotent', {}, { messageId: 'shared-id', schedule: 'nightly' });
    await client.publish('dedup.scheduled', {}, { messageId: 'shared-id', schedule: 'nightly' });
    await waitFor(
      'both to run',
      () => ran('dedup.idempotent', 'shared-id') === 1 && ran('dedup.scheduled', 'shared-id') === 1,
    );
    expect([...settled('dedup.idempotent'), ...settled('dedup.scheduled')]).toEqual(['success', 'success']);
  });

  it('with Redis unreachable, duplicates run (at least once, never dropped) and the worker says why', async () => {
    const port = await freePort();
    const { client, settled, ran, lines } = await start({ redisUrl: `redis://127.0.0.1:${port}` });
    await client.publish('dedup.scheduled', {}, { messageId: 'nightly@2026-01-03T03:00:00.000Z', schedule: 'nightly' });
    await waitFor('the first delivery to succeed', () => settled('dedup.scheduled').includes('success'));
    await client.publish('dedup.scheduled', {}, { messageId: 'nightly@2026-01-03T03:00:00.000Z', schedule: 'nightly' });
    await waitFor('two deliveries settled', () => settled('dedup.scheduled').length === 2, 10_000);
    expect(settled('dedup.scheduled')).toEqual(['success', 'success']);
    expect(ran('dedup.scheduled')).toBe(2);
    expect(lines.join('')).toContain('de-duplication unavailable (Redis); running the job');
  });

  it('with WARREN_REDIS_URL=none there is no de-duplication: every delivery runs', async () => {
    const { client, settled, ran } = await start({ redisUrl: 'none' });
    await client.publish('dedup.idempotent', {}, { messageId: 'no-redis' });
    await waitFor('the first delivery to succeed', () => settled('dedup.idempotent').includes('success'));
    await client.publish('dedup.idempotent', {}, { messageId: 'no-redis' });
    await waitFor('two deliveries settled', () => settled('dedup.idempotent').length === 2);
    expect(settled('dedup.idempotent')).toEqual(['success', 'success']);
    expect(ran('dedup.idempotent', 'no-redis')).toBe(2);
  });
  it('a worker with no schedules and no idempotent job connects to Redis only when a scheduled job arrives, and de-duplicates it', async () => {
    const config = testConfig({ redisUrl: SHARED_REDIS_URL, dedupTtlMs: 120_000 });
    const outcomes: DeliveryOutcome[] = [];
    let runs = 0;
    const worker = new Worker({
      config,
      registry: new Registry().register(defineJob('dedup.plain', () => void (runs += 1))),
      logger: memoryLogger('silent').logger,
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    const client = new WarrenClient({ config, logger: memoryLogger('silent').logger });
    const redis = sharedRedis();
    cleanups.push(async () => redis.disconnect());
    cleanups.push(() => deleteRedisNamespace(config.namespace));
    cleanups.push(() => deleteNamespace(config.namespace, JOB_TYPES, [500]));
    cleanups.push(() => worker.stop());
    cleanups.push(() => client.close());
    const workerClients = async (): Promise<number> =>
      String(await redis.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=warren:${config.namespace}:worker:`)).length;

    await worker.start();
    await client.start();
    await client.publish('dedup.plain', {}, { messageId: 'plain-1' });
    await waitFor('the plain job to succeed', () => outcomes.length === 1);
    expect(await workerClients()).toBe(0);

    const id = 'nightly@2026-03-01T03:00:00.000Z';
    await client.publish('dedup.plain', {}, { messageId: id, schedule: 'nightly' });
    // One after the other: de-duplication records a success, so two copies running at once would both run.
    await waitFor('the first scheduled delivery to settle', () => outcomes.length === 2);
    await client.publish('dedup.plain', {}, { messageId: id, schedule: 'nightly' });
    await waitFor('the second scheduled delivery to settle', () => outcomes.length === 3);
    expect(outcomes).toEqual(['success', 'success', 'duplicate']);
    expect(runs).toBe(2);
    expect(await workerClients()).toBe(1);
    await worker.stop();
    await waitFor('the worker to close its Redis connection', async () => (await workerClients()) === 0);
  });
});
