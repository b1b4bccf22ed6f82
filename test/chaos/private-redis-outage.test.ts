import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, defineSchedule, Registry, Scheduler, Worker, type DeliveryOutcome, type FireOutcome } from 'warren';
import { createRedis } from '../../src/redis/create-redis.js';
import { deleteNamespace, memoryLogger, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function privateRedis(): Promise<RedisServer> {
  const server = await startRedisServer();
  cleanups.push(() => server.stop());
  return server;
}

const everySecond = defineSchedule({ name: 'every-second', cron: '* * * * * *', jobType: 'tick.r' });
const fireTimeOf = (messageId: string): number => Date.parse(messageId.slice('every-second@'.length));

interface Fire {
  readonly outcome: FireOutcome;
  readonly at: number;
}

describe('Redis down at a cron fire (a private redis-server)', () => {
  it('paused (SIGSTOP) for 4 s: those fires are skipped and counted, each within a bounded time; later fires publish again', async () => {
    const redis = await privateRedis();
    const namespace = uniqueNamespace('redis-down');
    const published: Array<{ messageId: string; at: number; replica: number }> = [];
    const replicas = await Promise.all(
      [0, 1].map(async (replica) => {
        const { logger, lines } = memoryLogger('info');
        const client = createRedis(redis.url, logger);
        cleanups.push(async () => client.disconnect());
        await client.connect();
        const fires: Fire[] = [];
        const scheduler = new Scheduler({
          namespace,
          schedules: [everySecond],
          redis: client,
          fireLockTtlMs: 5_000,
          logger,
          publish: async (_jobType, _payload, options) => {
            published.push({ messageId: options.messageId, at: Date.now(), replica });
            return options.messageId;
          },
          onFire: (_schedule, outcome) => fires.push({ outcome, at: Date.now() }),
        });
        cleanups.push(() => scheduler.stop());
        await scheduler.start();
        return { scheduler, fires, lines };
      }),
    );
    await waitFor('fires to be published', () => published.length >= 2, 5_000);

    const pausedAt = Date.now();
    redis.pause();
    // Redis keeps its connections but answers nothing: each lock request can only time out.
    await sleep(4_000);
    redis.resume();
    const resumedAt = Date.now();
    await waitFor(
      'a fire after the pause to be published',
      () => published.some((p) => fireTimeOf(p.messageId) >= resumedAt + 1_000),
      8_000,
    );
    await Promise.all(replicas.map((r) => r.scheduler.stop()));

    // The fires of the pause were skipped (fail closed), by both replicas, and counted.
    const down = published.filter(
      (p) => fireTimeOf(p.messageId) > pausedAt + 1_000 && fireTimeOf(p.messageId) < resumedAt - 1_000,
    );
    expect(down).toEqual([]);
    // Every fire whose lock request went out while Redis was paused, and timed out before it resumed, was skipped by
    // both replicas.
    const pausedFires: number[] = [];
    for (let t = Math.ceil(pausedAt / 1000) * 1000; t <= resumedAt - 1_500; t += 1000) pausedFires.push(t);
    expect(pausedFires.length).toBeGreaterThanOrEqual(2);
    for (const { fires, lines } of replicas) {
      const skipped = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l['msg'] === 'fire skipped: the lock store (Redis) is unavailable');
      const skippedFires = new Set(skipped.map((l) => Date.parse(String(l['fireTime']))));
      for (const t of pausedFires) expect(skippedFires.has(t), `fire ${new Date(t).toISOString()} skipped`).toBe(true);
      expect(fires.filter((f) => f.outcome === 'lock_error').length).toBe(skipped.length);
      // Nothing hangs: each skipped fire was given up within a bounded time (the 1 s command timeout, then the
      // lock release that also times out), and the next fires were handled in their turn.
      for (const line of skipped) {
        const handledAfterMs = Number(line['time']) - Date.parse(String(line['fireTime']));
        expect(handledAfterMs, JSON.stringify(line)).toBeLessThanOrEqual(3_000);
        expect(line['schedule']).toBe('every-second');
      }
    }
    // Exactly one publish per fire before and after.
    const ids = published.map((p) => p.messageId);
    expect(ids.length).toBe(new Set(ids).size);
    // Publishing recovered promptly.
    const firstAfter = Math.min(...published.map((p) => fireTimeOf(p.messageId)).filter((t) => t >= resumedAt));
    expect(firstAfter - resumedAt).toBeLessThanOrEqual(3_000);
  });

  it('killed and restarted on the same port: the worker skips the fires while it is gone and runs them again after, once each', async () => {
    const redis = await privateRedis();
    const config = testConfig({ redisUrl: redis.url, fireLockTtlMs: 5_000 });
    cleanups.push(() => deleteNamespace(config.namespace, ['tick.r']));
    const runs: Array<{ jobId: string; at: number }> = [];
    const fires: Fire[] = [];
    const settled: DeliveryOutcome[] = [];
    const { logger, lines } = memoryLogger('info');
    const worker = new Worker({
      config,
      registry: new Registry().add([
        defineJob('tick.r', (_payload, ctx) => void runs.push({ jobId: ctx.jobId, at: Date.now() })),
      ]),
      schedules: [everySecond],
      logger,
      onFire: (_schedule, outcome) => fires.push({ outcome, at: Date.now() }),
      onOutcome: (outcome) => settled.push(outcome),
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    await waitFor('scheduled jobs to run', () => runs.length >= 2, 8_000);

    await redis.kill();
    const killedAt = Date.now();
    // Gone for 3 s: connections refused, every lock request fails at once.
    await sleep(3_000);
    await redis.start();
    const restartedAt = Date.now();
    await waitFor('a fire after the restart to run', () => runs.some((r) => fireTimeOf(r.jobId) >= restartedAt), 8_000);
    const stopping = Date.now();
    await worker.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);

    const during = fires.filter((f) => f.at > killedAt + 500 && f.at < restartedAt);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.every((f) => f.outcome === 'lock_error')).toBe(true);
    expect(lines.join('')).toContain('fire skipped: the lock store (Redis) is unavailable');
    expect(
      runs.filter((r) => fireTimeOf(r.jobId) > killedAt + 1_000 && fireTimeOf(r.jobId) < restartedAt - 1_000),
    ).toEqual([]);
    // One run per fire, and the worker came back within a few fires of the restart.
    const ids = runs.map((r) => r.jobId);
    expect(ids.length).toBe(new Set(ids).size);
    const firstAfter = Math.min(...runs.map((r) => fireTimeOf(r.jobId)).filter((t) => t >= restartedAt));
    expect(firstAfter - restartedAt).toBeLessThanOrEqual(4_000);
    expect(settled.every((o) => o === 'success')).toBe(true);
  });

  it('down when the worker starts: it starts anyway, skips the fires, and publishes once Redis comes up', async () => {
    const redis = await privateRedis();
    await redis.kill();
    const config = testConfig({ redisUrl: redis.url, fireLockTtlMs: 5_000 });
    cleanups.push(() => deleteNamespace(config.namespace, ['tick.r']));
    const runs: string[] = [];
    const fires: Fire[] = [];
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob('tick.r', (_payload, ctx) => void runs.push(ctx.jobId))]),
      schedules: [everySecond],
      logger: memoryLogger('silent').logger,
      onFire: (_schedule, outcome) => fires.push({ outcome, at: Date.now() }),
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    await waitFor(
      'fires skipped while Redis is down',
      () => fires.filter((f) => f.outcome === 'lock_error').length >= 2,
      5_000,
    );
    expect(runs).toEqual([]);
    await redis.start();
    const startedAt = Date.now();
    await waitFor('a scheduled job to run once Redis is up', () => runs.length > 0, 8_000);
    expect(Date.now() - startedAt).toBeLessThanOrEqual(5_000);
    expect(runs.length).toBe(new Set(runs).size);
  });
});
