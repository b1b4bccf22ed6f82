import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineSchedule, Scheduler, type FireOutcome } from 'warren';
import { createRedis } from '../../src/redis/create-redis.js';
import { FireLock } from '../../src/scheduler/fire-lock.js';
import { memoryLogger, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { deleteRedisNamespace, freePort, sharedRedis, SHARED_REDIS_URL } from '../helpers/redis-server.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A fail-fast client (as the worker builds it) on the shared Redis, connected. */
async function connectedRedis(url = SHARED_REDIS_URL): Promise<Redis> {
  const redis = createRedis(url, memoryLogger('silent').logger);
  cleanups.push(async () => redis.disconnect());
  await redis.connect();
  return redis;
}

/** A namespace of its own, its Redis keys deleted afterwards, and a client to look at them with. */
function lockNamespace(): { namespace: string; inspect: Redis } {
  const namespace = uniqueNamespace('lock');
  cleanups.push(() => deleteRedisNamespace(namespace));
  const inspect = sharedRedis();
  cleanups.push(async () => inspect.disconnect());
  return { namespace, inspect };
}

describe('the per-fire lock (FireLock, on redlock)', () => {
  it('elects exactly one of many contenders for a fire; the others are told no, not an error', async () => {
    const namespace = uniqueNamespace('lock');
    cleanups.push(() => deleteRedisNamespace(namespace));
    const locks = await Promise.all(
      Array.from({ length: 6 }, async () => new FireLock(await connectedRedis(), namespace)),
    );
    for (let round = 0; round < 5; round += 1) {
      const key = `tick:2026-01-01T00:00:0${round}.000Z`;
      const votes = await Promise.all(locks.map((lock) => lock.shouldRun(key, 10_000)));
      expect(votes.filter(Boolean)).toHaveLength(1);
    }
  });

  it('is the key <namespace>:fire:<schedule>:<fire time> with the lease as its TTL, and can be taken again only once expired', async () => {
    const { namespace, inspect } = lockNamespace();
    const lock = new FireLock(await connectedRedis(), namespace);
    const key = 'tick:2026-01-01T00:00:00.000Z';
    expect(await lock.shouldRun(key, 800)).toBe(true);
    const pttl = await inspect.pttl(`${namespace}:fire:${key}`);
    expect(pttl).toBeGreaterThan(500);
    expect(pttl).toBeLessThanOrEqual(800);
    expect(await lock.shouldRun(key, 800)).toBe(false);
    await waitFor('the lock to expire', async () => (await inspect.exists(`${namespace}:fire:${key}`)) === 0, 3_000);
    expect(await lock.shouldRun(key, 800)).toBe(true);
  });

  it('rejects (fail closed), rather than answering no, when Redis cannot be reached; at once, not after a hang; a slice of fires too', async () => {
    const port = await freePort();
    const redis = createRedis(`redis://127.0.0.1:${port}`, memoryLogger('silent').logger);
    cleanups.push(async () => redis.disconnect());
    await redis.connect().catch(() => {});
    const lock = new FireLock(redis, uniqueNamespace('lock'));
    const started = Date.now();
    await expect(lock.shouldRun('tick:2026-01-01T00:00:00.000Z', 5_000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1_500);
    const slice = ['a:2026-01-01T00:00:00.000Z', 'b:2026-01-01T00:00:00.000Z'];
    await expect(lock.takeEach(slice, 5_000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('takes the fires of one instant together: one replica takes each, also when replicas have different schedules', async () => {
    const namespace = uniqueNamespace('lock');
    cleanups.push(() => deleteRedisNamespace(namespace));
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => new FireLock(await connectedRedis(), namespace)));
    const at = '2026-01-01T00:00:00.000Z';
    const keys = (names: readonly string[]): string[] => names.map((name) => `${name}:${at}`);
    const won = (results: ReadonlyArray<PromiseSettledResult<boolean>>): boolean[] =>
      results.map((r) => (r.status === 'fulfilled' ? r.value : expect.fail(`a lock failed: ${String(r.reason)}`)));
    // Same schedules in every replica: the first takes every fire, the others none.
    const same = keys(['s1', 's2', 's3', 's4']);
    const votes = await Promise.all(
      [a, b, c].map(async (lock) => won(await (lock as FireLock).takeEach(same, 10_000))),
    );
    for (let i = 0; i < same.length; i += 1) expect(votes.filter((v) => v[i]).length, same[i]).toBe(1);
    // A rolling deploy: s0 and s5 are new in b, s4 is gone from it; a already holds s1-s4 of this instant.
    expect(won(await (b as FireLock).takeEach(keys(['s0', 's1', 's2', 's3', 's5']), 10_000))).toEqual([
      true,
      false,
      false,
      false,
      true,
    ]);
    expect(won(await (c as FireLock).takeEach(keys(['s0', 's4', 's5', 's6']), 10_000))).toEqual([
      false,
      false,
      false,
      true,
    ]);
    // Each is a lock of its own, the one a single fire takes: s6 is held now, s7 is free.
    expect(await (a as FireLock).shouldRun(`s6:${at}`, 10_000)).toBe(false);
    expect(await (a as FireLock).shouldRun(`s7:${at}`, 10_000)).toBe(true);
  });

  it('a fire leaves its lock to expire (never released early), and records the last fire', async () => {
    const { namespace, inspect } = lockNamespace();
    const published: string[] = [];
    const outcomes: FireOutcome[] = [];
    const scheduler = new Scheduler({
      namespace,
      schedules: [defineSchedule({ name: 'every-second', cron: '* * * * * *', jobType: 'tick' })],
      redis: await connectedRedis(),
      fireLockTtlMs: 30_000,
      logger: memoryLogger('silent').logger,
      publish: async (_jobType, _payload, options) => {
        published.push(options.messageId);
        return options.messageId;
      },
      onFire: (_schedule, outcome) => outcomes.push(outcome),
    });
    cleanups.push(() => scheduler.stop());
    await scheduler.start();
    await waitFor('two fires', () => published.length >= 2, 5_000);
    await scheduler.stop();
    const first = (published[0] as string).slice('every-second@'.length);
    expect(published[0]).toMatch(/^every-second@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    // Both fires' locks are still held, a whole TTL long, after their jobs were published.
    for (const id of published.slice(0, 2)) {
      const pttl = await inspect.pttl(`${namespace}:fire:every-second:${id.slice('every-second@'.length)}`);
      expect(pttl).toBeGreaterThan(25_000);
    }
    expect(Date.parse(first)).toBeLessThan(Date.parse((published[1] as string).slice('every-second@'.length)));
    expect(outcomes.filter((o) => o === 'published').length).toBe(published.length);
    expect(await inspect.get(`${namespace}:schedule:every-second:last`)).toBe(
      (published.at(-1) as string).slice('every-second@'.length),
    );
  });
});

describe('many schedules of one instant, in replicas whose schedules differ (a rolling deploy)', () => {
  it('publish each (schedule, fire time) once across the replicas, and record every last fire', async () => {
    const { namespace, inspect } = lockNamespace();
    const published: string[] = [];
    // 250 schedules, fired in slices of 100: the replicas' slices overlap only in part (b lacks s0, has s250).
    const names = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `s${from + i}`);
    const replicas = await Promise.all(
      [names(0, 250), names(1, 251)].map(
        async (scheduleNames) =>
          new Scheduler({
            namespace,
            schedules: scheduleNames.map((name) => defineSchedule({ name, cron: '* * * * * *', jobType: 'tick' })),
            redis: await connectedRedis(),
            fireLockTtlMs: 30_000,
            logger: memoryLogger('silent').logger,
            publish: async (_jobType, _payload, { messageId }) => {
              published.push(messageId);
              return messageId;
            },
          }),
      ),
    );
    for (const replica of replicas) cleanups.push(() => replica.stop());
    await Promise.all(replicas.map((replica) => replica.start()));
    const fireTimes = (): Set<string> => new Set(published.map((id) => id.slice(id.indexOf('@') + 1)));
    await waitFor('three fire times', () => fireTimes().size >= 3, 6_000);
    await Promise.all(replicas.map((replica) => replica.stop()));
    // Every fire time but the last (it may have been cut by the stop) has all 251 schedules, each once.
    const complete = [...fireTimes()].sort().slice(0, -1);
    expect(complete.length).toBeGreaterThanOrEqual(2);
    for (const at of complete) {
      const ids = published.filter((id) => id.endsWith(`@${at}`));
      expect(ids.length, at).toBe(251);
      expect(new Set(ids).size, at).toBe(251);
    }
    expect(published.length).toBe(new Set(published).size);
    // Each schedule's last fire is the latest fire time it was published for, by whichever replica published it.
    const latest = new Map<string, string>();
    for (const id of published.sort()) latest.set(id.slice(0, id.indexOf('@')), id.slice(id.indexOf('@') + 1));
    const all = names(0, 251);
    const last = await inspect.mget(all.map((name) => `${namespace}:schedule:${name}:last`));
    expect(last).toEqual(all.map((name) => latest.get(name)));
  });
});

describe('a fire skipped because Redis is unreachable', () => {
  /** A scheduler whose Redis refuses connections, until it has skipped `count` fires. */
  async function skipFires(count: number): Promise<{ lines: string[]; outcomes: FireOutcome[] }> {
    const port = await freePort();
    const { logger, lines } = memoryLogger('info');
    const redis = createRedis(`redis://127.0.0.1:${port}`, logger);
    cleanups.push(async () => redis.disconnect());
    await redis.connect().catch(() => {});
    const outcomes: FireOutcome[] = [];
    const scheduler = new Scheduler({
      namespace: uniqueNamespace('lock'),
      schedules: [defineSchedule({ name: 'every-second', cron: '* * * * * *', jobType: 'tick' })],
      redis,
      fireLockTtlMs: 5_000,
      logger,
      publish: () => Promise.reject(new Error('no fire may publish without its lock')),
      onFire: (_schedule, outcome) => outcomes.push(outcome),
    });
    cleanups.push(() => scheduler.stop());
    await scheduler.start();
    await waitFor(`${count} skipped fires`, () => outcomes.filter((o) => o === 'lock_error').length >= count, 5_000);
    await scheduler.stop();
    return { lines, outcomes };
  }

  it('is counted as lock_error, never published, and logged with its fire time and the cause', async () => {
    const { lines, outcomes } = await skipFires(2);
    expect(outcomes.every((o) => o === 'lock_error')).toBe(true);
    const skipped = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'fire skipped: the lock store (Redis) is unavailable');
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    expect(skipped[0]).toMatchObject({ level: 50, schedule: 'every-second' });
    expect(String(skipped[0]?.['fireTime'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    // Why the lock could not be asked for belongs in the line an operator reads.
    expect(skipped[0]?.['err'], JSON.stringify(skipped[0])).toMatchObject({ message: expect.any(String) });
  });

  it("is reported through warren's logger only: nothing written to the console behind its back", async () => {
    const writes: string[] = [];
    for (const method of ['error', 'warn', 'info', 'log', 'debug'] as const) {
      const spy = vi
        .spyOn(console, method)
        .mockImplementation((...args: unknown[]) => void writes.push(args.map(String).join(' ')));
      cleanups.push(async () => spy.mockRestore());
    }
    await skipFires(1);
    expect(writes.map((w) => w.split('\n')[0])).toEqual([]);
  });
});
