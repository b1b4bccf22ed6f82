import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { IllegalStateError } from '../errors/illegal-state-error.js';

/** How long the first user of a {@link LazyRedis} waits for the connection before its command fails fast. */
export const REDIS_FIRST_CONNECT_WAIT_MS = 2_000;

/**
 * A worker's Redis client, made on first use. ioredis costs ~10 MB of heap and more of RSS, and many workers never
 * need Redis: only schedules, `idempotent` jobs and scheduled jobs (which other replicas may publish) use it. The
 * first caller waits up to {@link REDIS_FIRST_CONNECT_WAIT_MS} for the connection; after that every command fails
 * fast while Redis is down (see `createRedis`).
 */
export class LazyRedis {
  readonly #url: string;
  readonly #logger: Logger;
  readonly #connectionName: string | undefined;
  #client: Promise<Redis> | undefined;
  #redis: Redis | undefined;
  #closed = false;

  /** `connectionName` is shown by Redis `CLIENT LIST` (no spaces). */
  constructor(url: string, logger: Logger, connectionName?: string) {
    this.#url = url;
    this.#logger = logger;
    this.#connectionName = connectionName;
  }

  /** The client, made and connecting on the first call. */
  get(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new IllegalStateError('Redis was closed: the worker is stopping'));
    this.#client ??= this.#create();
    return this.#client;
  }

  async #create(): Promise<Redis> {
    const { createRedis, waitReady } = await import('./create-redis.js');
    const redis = createRedis(this.#url, this.#logger, this.#connectionName);
    this.#redis = redis;
    if (this.#closed) {
      redis.disconnect();
      throw new IllegalStateError('Redis was closed: the worker is stopping');
    }
    // Connection errors are logged by createRedis and retried in the background; commands fail fast meanwhile.
    redis.connect().catch(() => {});
    await waitReady(redis, REDIS_FIRST_CONNECT_WAIT_MS);
    return redis;
  }

  /** Closes the client, if it was made; later calls to `get` reject. */
  disconnect(): void {
    this.#closed = true;
    this.#redis?.disconnect();
  }
}
