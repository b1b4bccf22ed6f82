import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from '../config/broker-urls.js';

/** How long one Redis command may take before it fails. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** Resolves once the client is ready, or after `timeoutMs` (callers carry on: every command fails fast). */
export function waitReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.once('ready', onReady);
  });
}

/**
 * A Redis client that fails fast: no offline queue (a command while disconnected fails at once), a 1 s command
 * and connect timeout, one retry per request, reconnecting in the background. ioredis' defaults queue commands
 * while disconnected and were seen hanging for 15 s and more, which would hold a cron fire or a job hostage.
 */
export function createRedis(url: string, logger: Logger, connectionName?: string): Redis {
  const log = logger.child({ component: 'redis' });
  const redis = new Redis(url, {
    // Shown by CLIENT LIST, so an operator can tell warren's connections apart.
    ...(connectionName === undefined ? {} : { connectionName }),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err, url: redactUrl(url) }, 'Redis unavailable; reconnecting in the background');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ url: redactUrl(url) }, 'Redis available again');
    down = false;
  });
  return redis;
}
