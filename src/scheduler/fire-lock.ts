import { createRequire } from 'node:module';
import type * as RedlockModule from '@sesamecare-oss/redlock';
import type { ExecutionError, Redlock, ResourceLockedError } from '@sesamecare-oss/redlock';
import type { Redis } from 'ioredis';

/**
 * redlock, loaded by the first {@link FireLock} rather than by importing warren: only schedules with Redis use it.
 * It is CommonJS only, so this is the very module an `import` of it gets.
 */
const loadRedlock = (): typeof RedlockModule =>
  createRequire(import.meta.url)('@sesamecare-oss/redlock') as typeof RedlockModule;

/**
 * A Redis lock per fire (`<namespace>:fire:<schedule>:<fire time>`): the one replica that takes it publishes.
 * Answers `false` when another replica holds it and throws when Redis cannot be asked (the scheduler then skips the
 * fire: fail closed). The lock is never released, only left to expire, so a replica whose clock is late cannot take
 * the same fire again. It is not a fence: correctness comes from the fire's deterministic message id and
 * consumer-side de-duplication. The key is the one node-cron's run coordinator was asked with
 * (`<schedule>:<fire time ISO>`), so replicas of earlier versions contend for the same locks.
 */
export class FireLock {
  /** The module the lock comes from: its error classes are the ones `instanceof` must test against. */
  readonly #module: typeof RedlockModule;
  readonly #redlock: Redlock;
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, namespace: string) {
    this.#redis = redis;
    this.#module = loadRedlock();
    this.#redlock = new this.#module.Redlock([redis], { retryCount: 0, driftFactor: 0.01 });
    // Failed votes are reported through the thrown ExecutionError; without a listener EventEmitter would throw.
    this.#redlock.on('error', () => {});
    this.#prefix = `${namespace}:fire:`;
  }

  /** Takes the lock `key` (`<schedule>:<fire time>`) for `ttlMs`: `true` when taken, `false` when held by another. */
  async shouldRun(key: string, ttlMs: number): Promise<boolean> {
    try {
      await this.#redlock.acquire([`${this.#prefix}${key}`], ttlMs);
      return true;
    } catch (error) {
      const { ExecutionError, ResourceLockedError } = this.#module;
      if (error instanceof ExecutionError && (await lockedByAnother(error, ResourceLockedError))) return false;
      throw error;
    }
  }

  /**
   * Takes the locks `keys` (the fires of one instant) for `ttlMs`, in one round trip when it can: answers, key by
   * key, whether this replica took it. First all of them as one redlock lock (its script sets every key or none);
   * when some are held, they were taken by another replica, which in the common case (replicas with the same
   * schedules) took them all. Then one MGET tells which are free (replicas whose schedules differ, as in a rolling
   * deploy, took slices that overlap only in part), and those are taken one by one. Each key stays a lock of its
   * own, the one {@link shouldRun} takes: whatever the split, one replica takes each fire. Throws when Redis cannot
   * be asked for the slice (none of the fires is taken here); a key taken one by one answers for itself, as
   * {@link shouldRun} does, so a failure there costs that fire only.
   */
  async takeEach(keys: readonly string[], ttlMs: number): Promise<Array<PromiseSettledResult<boolean>>> {
    if (keys.length === 1) return Promise.allSettled([this.shouldRun(keys[0] as string, ttlMs)]);
    try {
      await this.#redlock.acquire(
        keys.map((key) => `${this.#prefix}${key}`),
        ttlMs,
      );
      return keys.map(() => TAKEN);
    } catch (error) {
      const { ExecutionError, ResourceLockedError } = this.#module;
      if (!(error instanceof ExecutionError && (await lockedByAnother(error, ResourceLockedError)))) throw error;
    }
    const holders = await this.#redis.mget(keys.map((key) => `${this.#prefix}${key}`));
    return Promise.allSettled(keys.map(async (key, i) => holders[i] === null && (await this.shouldRun(key, ttlMs))));
  }
}

/** A lock taken, as {@link FireLock.takeEach} answers for each key. */
export const TAKEN: PromiseFulfilledResult<boolean> = Object.freeze({ status: 'fulfilled', value: true });

/** Whether every vote against came from the lock being held (rather than Redis failing). */
async function lockedByAnother(error: ExecutionError, locked: typeof ResourceLockedError): Promise<boolean> {
  const stats = await Promise.all(error.attempts);
  const reasons = stats.flatMap((s) => [...s.votesAgainst.values()]);
  return reasons.length > 0 && reasons.every((reason) => reason instanceof locked);
}
