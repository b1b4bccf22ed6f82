import type { Redis } from 'ioredis';

/**
 * Remembers the message ids of jobs that succeeded (Redis `SET NX` with a TTL), so a second delivery of the same
 * job (a duplicated cron fire, a publish retried after an indeterminate confirm) is acked without running again.
 * Recorded after the handler succeeds, so a failed attempt is never mistaken for a done one.
 */
export class DedupStore {
  readonly #redis: () => Promise<Redis>;
  readonly #prefix: string;
  readonly #ttlMs: number;

  /** `redis` gives the client (made on first use, see `LazyRedis`). */
  constructor(redis: () => Promise<Redis>, namespace: string, ttlMs: number) {
    this.#redis = redis;
    this.#prefix = `${namespace}:done:`;
    this.#ttlMs = ttlMs;
  }

  #key(jobType: string, messageId: string): string {
    return `${this.#prefix}${jobType}:${messageId}`;
  }

  /** True when this job already succeeded. Rejects when Redis is unavailable (the caller decides). */
  async isDone(jobType: string, messageId: string): Promise<boolean> {
    const redis = await this.#redis();
    return (await redis.exists(this.#key(jobType, messageId))) === 1;
  }

  /** Records a success; false when it was already recorded. */
  async markDone(jobType: string, messageId: string): Promise<boolean> {
    const redis = await this.#redis();
    return (await redis.set(this.#key(jobType, messageId), String(Date.now()), 'PX', this.#ttlMs, 'NX')) === 'OK';
  }
}
