import { afterEach, describe, expect, it } from 'vitest';
import {
  defineJob,
  defineSchedule,
  fireMessageId,
  HEADERS,
  Registry,
  Scheduler,
  WarrenClient,
  Worker,
  type DeliveryOutcome,
  type FireOutcome,
} from 'warren';
import { startTestBroker } from 'warren/testing';
import type { SchedulePublish } from '../../src/scheduler/scheduler.js';
import { createRedis } from '../../src/redis/create-redis.js';
import { AMQP_URL, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { sharedRedis, SHARED_REDIS_URL } from '../helpers/redis-server.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

describe('a scheduler paused past its lock: the lock is not a fence, de-duplication is', () => {
  it('the same fire is published twice, and its handler runs once', async () => {
    // Deletes the namespace's queues and exchanges and its Redis keys (fire locks, last fires, de-duplication).
    const broker = await startTestBroker({
      env: { WARREN_AMQP_URL: AMQP_URL, WARREN_REDIS_URL: SHARED_REDIS_URL },
      prefix: 'fence',
      jobTypes: ['fence.job'],
      retryTiersMs: [500],
    });
    cleanups.push(() => broker.stop());
    const config = testConfig({ ...broker.config, fireLockTtlMs: 1_500 });
    const { namespace } = config;
    const inspect = sharedRedis(broker.redisUrl);
    cleanups.push(async () => inspect.disconnect());
    const { logger } = memoryLogger('silent');

    // The consumer, de-duplicating through Redis.
    const runs: Array<{ jobId: string; schedule: unknown }> = [];
    const settled: DeliveryOutcome[] = [];
    const worker = new Worker({
      config,
      registry: new Registry().add([
        defineJob(
          'fence.job',
          (_p, ctx) => void runs.push({ jobId: ctx.jobId, schedule: ctx.headers[HEADERS.schedule] }),
        ),
      ]),
      logger,
      onOutcome: (outcome) => settled.push(outcome),
    });
    cleanups.push(() => worker.stop());
    await worker.start();
    const client = new WarrenClient({ config, logger });
    cleanups.push(() => client.close());
    await client.start();

    // One fire a minute, the next one 3 s from now; a missed fire is caught up within a minute.
    const fireTime = new Date(Math.ceil((Date.now() + 3_000) / 1000) * 1000);
    const schedule = defineSchedule({
      name: 'fence',
      cron: `${fireTime.getUTCSeconds()} * * * * *`,
      jobType: 'fence.job',
      catchUpMs: '1m',
    });
    const messageId = fireMessageId('fence', fireTime);

    // Replica A takes the fire's lock and sends the job, then stalls (a GC pause, SIGSTOP, a lost confirm) before
    // its publish returns and before it records the fire as its schedule's last: longer than the lock's TTL.
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (release = resolve));
    cleanups.push(async () => release());
    const publishedByA: string[] = [];
    const outcomesA: FireOutcome[] = [];
    const stallingPublish: SchedulePublish = async (jobType, payload, options) => {
      const id = await client.publish(jobType, payload, options);
      publishedByA.push(options.messageId);
      if (options.messageId === messageId) await stalled;
      return id;
    };
    const replica = async (publish: SchedulePublish, outcomes: FireOutcome[]): Promise<Scheduler> => {
      const redis = createRedis(broker.redisUrl, logger);
      cleanups.push(async () => redis.disconnect());
      await redis.connect();
      const scheduler = new Scheduler({
        namespace,
        schedules: [schedule],
        redis,
        fireLockTtlMs: config.fireLockTtlMs,
        logger,
        publish,
        onFire: (_s, o) => outcomes.push(o),
      });
      cleanups.push(() => scheduler.stop());
      await scheduler.start();
      return scheduler;
    };
    await replica(stallingPublish, outcomesA);
    // The schedule ran before: its previous fire, a minute earlier, is on record.
    await inspect.set(`${namespace}:schedule:fence:last`, new Date(fireTime.getTime() - 60_000).toISOString());

    await waitFor(`replica A to publish ${messageId}`, () => publishedByA.includes(messageId), 8_000);
    await waitFor('the job to run', () => settled.includes('success'), 5_000);
    expect(runs).toEqual([{ jobId: messageId, schedule: 'fence' }]);
    // A's lock was held for the TTL and expired while A is still stalled; the fire is not recorded as done.
    const lockKey = `${namespace}:fire:fence:${fireTime.toISOString()}`;
    await waitFor('the fire lock to expire', async () => (await inspect.exists(lockKey)) === 0, 3_000);
    expect(await inspect.get(`${namespace}:schedule:fence:last`)).not.toBe(fireTime.toISOString());
    expect(outcomesA).toEqual([]);

    // Replica B starts now: for it, the fire is missed and inside the catch-up window, and its lock is free.
    const outcomesB: FireOutcome[] = [];
    await replica((jobType, payload, options) => client.publish(jobType, payload, options), outcomesB);
    expect(outcomesB).toEqual(['caught_up']);

    // Two copies of the same fire reached the queue; the handler ran once.
    await waitFor('the second copy to settle', () => settled.length === 2, 5_000);
    expect(settled).toEqual(['success', 'duplicate']);
    expect(runs).toEqual([{ jobId: messageId, schedule: 'fence' }]);

    // A resumes: its publish returns and it records the fire.
    release();
    await waitFor('replica A to finish the fire', () => outcomesA.includes('published'), 3_000);
    expect(await inspect.get(`${namespace}:schedule:fence:last`)).toBe(fireTime.toISOString());
    expect(runs).toHaveLength(1);
  });
});
