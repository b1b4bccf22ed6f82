import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defineJob,
  defineSchedule,
  fireMessageId,
  HEADERS,
  Registry,
  Scheduler,
  Worker,
  type FireOutcome,
  type ScheduleDefinition,
} from 'warren';
import { createRedis } from '../../src/redis/create-redis.js';
import { deleteNamespace, memoryLogger, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { deleteRedisNamespace, sharedRedis, SHARED_REDIS_URL } from '../helpers/redis-server.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** The key a scheduler records a schedule's last fire under. */
const lastKey = (namespace: string, schedule: string): string => `${namespace}:schedule:${schedule}:last`;

/**
 * Schedules whose latest fire is well known and not about to change: one a minute at a second half a minute away
 * (its latest fire was ~30 s ago, its next is ~30 s ahead), and one a day about 12 h ago.
 */
function catchUpSchedules(): { schedules: ScheduleDefinition[]; minutely: Date; daily: Date } {
  const now = Date.now();
  const second = (new Date(now).getUTCSeconds() + 30) % 60;
  let latest = now - (now % MINUTE) + second * 1000;
  if (latest > now) latest -= MINUTE;
  const minutely = new Date(latest);
  const dailyHour = (new Date(now).getUTCHours() + 12) % 24;
  const daily = new Date(now - (now % HOUR) - 12 * HOUR);
  expect(daily.getUTCHours()).toBe(dailyHour);
  const everyMinute = `${second} * * * * *`;
  const schedules = [
    // Missed twice since its last recorded fire, the latest inside its 2 min window: that one is published, once.
    defineSchedule({
      name: 'minutely',
      cron: everyMinute,
      jobType: 'catch.up',
      payload: { from: 'minutely' },
      catchUpMs: '2m',
    }),
    // Missed, but ~12 h old with a 10 min window: not published.
    defineSchedule({ name: 'daily', cron: `0 0 ${dailyHour} * * *`, jobType: 'catch.up', catchUpMs: '10m' }),
    // Never fired (no last fire recorded): nothing to catch up.
    defineSchedule({ name: 'never-fired', cron: everyMinute, jobType: 'catch.up', catchUpMs: '2m' }),
    // No catch-up configured: a missed fire stays missed.
    defineSchedule({ name: 'no-catch-up', cron: everyMinute, jobType: 'catch.up' }),
  ];
  return { schedules, minutely, daily };
}

/** Records the last fires as if a scheduler had run until some time before. */
async function recordLastFires(redis: Redis, namespace: string, minutely: Date, daily: Date): Promise<void> {
  await redis.set(lastKey(namespace, 'minutely'), new Date(minutely.getTime() - 2 * MINUTE).toISOString());
  await redis.set(lastKey(namespace, 'daily'), new Date(daily.getTime() - 24 * HOUR).toISOString());
  await redis.set(lastKey(namespace, 'no-catch-up'), new Date(minutely.getTime() - 2 * MINUTE).toISOString());
}

describe('catch-up of fires missed while no scheduler ran', () => {
  it('two schedulers starting together publish the missed fire inside the window once, and nothing else', async () => {
    const namespace = uniqueNamespace('catchup');
    const inspect = sharedRedis();
    cleanups.push(async () => inspect.disconnect());
    cleanups.push(() => deleteRedisNamespace(namespace));
    const { schedules, minutely, daily } = catchUpSchedules();
    await recordLastFires(inspect, namespace, minutely, daily);

    const published: Array<{ messageId: string; jobType: string; payload: unknown; schedule: string }> = [];
    const outcomes: Array<[string, FireOutcome]> = [];
    const { logger } = memoryLogger('silent');
    const schedulers = await Promise.all(
      [1, 2].map(async () => {
        const redis = createRedis(SHARED_REDIS_URL, logger);
        await redis.connect();
        cleanups.push(async () => redis.disconnect());
        const scheduler = new Scheduler({
          namespace,
          schedules,
          redis,
          fireLockTtlMs: 60_000,
          logger,
          publish: async (jobType, payload, options) => {
            published.push({ jobType, payload, ...options });
            return options.messageId;
          },
          onFire: (schedule, outcome) => outcomes.push([schedule, outcome]),
        });
        cleanups.push(() => scheduler.stop());
        return scheduler;
      }),
    );
    // start() resolves once its catch-up is done.
    await Promise.all(schedulers.map((s) => s.start()));

    const caughtUp = published.filter((p) => p.messageId === fireMessageId('minutely', minutely));
    expect(caughtUp).toEqual([
      {
        jobType: 'catch.up',
        payload: { from: 'minutely' },
        messageId: `minutely@${minutely.toISOString()}`,
        schedule: 'minutely',
      },
    ]);
    expect(outcomes.filter(([, outcome]) => outcome === 'caught_up')).toEqual([['minutely', 'caught_up']]);
    // Only the latest of the two missed fires, and nothing of the other schedules.
    expect(published.map((p) => p.messageId)).toEqual([fireMessageId('minutely', minutely)]);
    // The per-fire lock of a catch-up is the regular fire's lock, left to expire.
    const pttl = await inspect.pttl(`${namespace}:fire:minutely:${minutely.toISOString()}`);
    expect(pttl).toBeGreaterThan(50_000);
    expect(await inspect.get(lastKey(namespace, 'minutely'))).toBe(minutely.toISOString());
    expect(await inspect.get(lastKey(namespace, 'never-fired'))).toBeNull();

    // A scheduler starting later finds nothing missed since.
    const { logger: quiet } = memoryLogger('silent');
    const redis = createRedis(SHARED_REDIS_URL, quiet);
    await redis.connect();
    cleanups.push(async () => redis.disconnect());
    const later = new Scheduler({
      namespace,
      schedules,
      redis,
      fireLockTtlMs: 60_000,
      logger: quiet,
      publish: async (_jobType, _payload, options) => {
        published.push({ jobType: _jobType, payload: _payload, ...options });
        return options.messageId;
      },
    });
    cleanups.push(() => later.stop());
    await later.start();
    expect(published.filter((p) => p.messageId.startsWith('minutely@'))).toHaveLength(1);
  });

  it('even after the lock expired, a caught-up fire is not published again once it was recorded as the last', async () => {
    const namespace = uniqueNamespace('catchup');
    const inspect = sharedRedis();
    cleanups.push(async () => inspect.disconnect());
    cleanups.push(() => deleteRedisNamespace(namespace));
    const { schedules, minutely, daily } = catchUpSchedules();
    await recordLastFires(inspect, namespace, minutely, daily);
    const published: string[] = [];
    const start = async (): Promise<void> => {
      const { logger } = memoryLogger('silent');
      const redis = createRedis(SHARED_REDIS_URL, logger);
      await redis.connect();
      cleanups.push(async () => redis.disconnect());
      const scheduler = new Scheduler({
        namespace,
        schedules,
        redis,
        fireLockTtlMs: 1_000,
        logger,
        publish: async (_jobType, _payload, options) => {
          published.push(options.messageId);
          return options.messageId;
        },
      });
      cleanups.push(() => scheduler.stop());
      await scheduler.start();
    };
    await start();
    expect(published).toEqual([`minutely@${minutely.toISOString()}`]);
    await waitFor(
      'the catch-up lock to expire',
      async () => (await inspect.exists(`${namespace}:fire:minutely:${minutely.toISOString()}`)) === 0,
      5_000,
    );
    await start();
    expect(published).toEqual([`minutely@${minutely.toISOString()}`]);
  });

  it('a long catch-up window with nothing to catch up does not cost another schedule its missed fire', async () => {
    // The search for a missed fire must not stall the process: while it runs, another schedule's lock request is in
    // flight, and a reply read after the 1 s Redis command timeout counts as a failure although the lock was taken.
    // A yearly schedule that last fired months ago, with a 3-day window, after a restart: nothing to catch up.
    const namespace = uniqueNamespace('catchup');
    const inspect = sharedRedis();
    cleanups.push(async () => inspect.disconnect());
    cleanups.push(() => deleteRedisNamespace(namespace));
    const { schedules, minutely, daily } = catchUpSchedules();
    const now = new Date();
    const month = ((now.getUTCMonth() + 6) % 12) + 1;
    const yearlyLast = new Date(Date.UTC(now.getUTCFullYear() - (month - 1 > now.getUTCMonth() ? 1 : 0), month - 1, 1));
    const yearly = defineSchedule({ name: 'yearly', cron: `0 0 0 1 ${month} *`, jobType: 'catch.up', catchUpMs: '3d' });
    await recordLastFires(inspect, namespace, minutely, daily);
    await inspect.set(lastKey(namespace, 'yearly'), yearlyLast.toISOString());

    const published: string[] = [];
    const outcomes: Array<[string, FireOutcome]> = [];
    const { logger } = memoryLogger('silent');
    const redis = createRedis(SHARED_REDIS_URL, logger);
    await redis.connect();
    cleanups.push(async () => redis.disconnect());
    const scheduler = new Scheduler({
      namespace,
      schedules: [schedules[0] as ScheduleDefinition, yearly],
      redis,
      fireLockTtlMs: 60_000,
      logger,
      publish: async (_jobType, _payload, options) => {
        published.push(options.messageId);
        return options.messageId;
      },
      onFire: (schedule, outcome) => outcomes.push([schedule, outcome]),
    });
    cleanups.push(() => scheduler.stop());
    // The longest gap between ticks of a 10 ms interval: how long the event loop was held.
    let stallMs = 0;
    let tick = Date.now();
    const ticker = setInterval(() => {
      stallMs = Math.max(stallMs, Date.now() - tick - 10);
      tick = Date.now();
    }, 10);
    const started = Date.now();
    await scheduler.start().finally(() => clearInterval(ticker));
    const detail = `start took ${Date.now() - started} ms, longest event-loop stall ${stallMs} ms, outcomes ${JSON.stringify(outcomes)}`;
    expect(published, detail).toEqual([fireMessageId('minutely', minutely)]);
    expect(stallMs, detail).toBeLessThan(500);
  });

  it('through the Worker, as `warren scheduler` runs it: two replicas starting together deliver the missed fire once', async () => {
    const { schedules, minutely, daily } = catchUpSchedules();
    const base = testConfig();
    const { namespace } = base;
    const inspect = sharedRedis();
    cleanups.push(async () => inspect.disconnect());
    cleanups.push(() => deleteRedisNamespace(namespace));
    cleanups.push(() => deleteNamespace(namespace, ['catch.up']));
    await recordLastFires(inspect, namespace, minutely, daily);

    // A consumer without de-duplication, so every copy that arrives is seen.
    const arrived: Array<{ jobId: string; schedule: unknown }> = [];
    const consumer = new Worker({
      config: { ...base, redisUrl: 'none' },
      registry: new Registry().add([
        defineJob(
          'catch.up',
          (_payload, ctx) => void arrived.push({ jobId: ctx.jobId, schedule: ctx.headers[HEADERS.schedule] }),
        ),
      ]),
      logger: memoryLogger('silent').logger,
    });
    cleanups.push(() => consumer.stop());
    await consumer.start();

    const logs: string[][] = [];
    const replicas = [1, 2].map(() => {
      const { logger, lines } = memoryLogger('info');
      logs.push(lines);
      const worker = new Worker({
        config: { ...base, redisUrl: SHARED_REDIS_URL },
        registry: new Registry(),
        schedules,
        logger,
      });
      cleanups.push(() => worker.stop());
      return worker;
    });
    await Promise.all(replicas.map((worker) => worker.start()));

    const expected = fireMessageId('minutely', minutely);
    await waitFor(
      `the missed fire ${expected} to arrive (scheduler logs: ${logs
        .flat()
        .map((l) => JSON.parse(l) as { msg: string; schedule?: string; err?: { message?: string } })
        .filter((l) => l.msg.includes('catch-up') || l.msg.includes('missed'))
        .map((l) => `${l.schedule}: ${l.msg}${l.err ? ` (${l.err.message})` : ''}`)
        .join(' | ')})`,
      () => arrived.some((a) => a.jobId === expected),
      6_000,
    );
    // Time for a second copy to show up, were there one.
    await sleep(1_000);
    expect(arrived).toEqual([{ jobId: expected, schedule: 'minutely' }]);
  });
});
