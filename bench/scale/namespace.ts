import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { deleteTopology, namespaceExchanges, namespaceQueues } from '../../src/testing/clean-test-namespace.js';

/** Every scale namespace starts with this: nothing else on the broker or in Redis is touched. */
export const SCALE_PREFIX = 'bench-scale-';

/** A fresh namespace for one scenario step: `bench-scale-<scenario>-<random>`. */
export function newNamespace(scenario: string): string {
  return `${SCALE_PREFIX}${scenario}-${randomUUID().slice(0, 8)}`;
}

/** Where the broker and Redis are. */
export interface Endpoints {
  readonly amqpUrl: string;
  readonly redisUrl: string;
  /** RabbitMQ's management API (`http://user:pass@host:15672`); the vhost is the AMQP URL's. */
  readonly managementUrl: string;
}

/** What a sweep deleted, and what it could not. */
export interface Sweep {
  readonly queues: number;
  readonly exchanges: number;
  readonly redisKeys: number;
  readonly problems: readonly string[];
}

/** The management API URL that goes with an AMQP URL: same host and credentials, port 15672. */
export function managementUrlOf(amqpUrl: string): string {
  const url = new URL(amqpUrl.split(',')[0] ?? amqpUrl);
  const auth = url.username === '' ? '' : `${url.username}:${url.password}@`;
  return `http://${auth}${url.hostname}:15672`;
}

/** GETs a management API path; the credentials of the URL go in a header (fetch refuses them in the URL). */
export async function management<T>(managementUrl: string, path: string): Promise<T> {
  const url = new URL(managementUrl);
  const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString(
    'base64',
  );
  url.username = '';
  url.password = '';
  const response = await fetch(new URL(path, url), {
    headers: { authorization: `Basic ${auth}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** The vhost of an AMQP URL (`/` when it names none). */
export function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl.split(',')[0] ?? amqpUrl).pathname.slice(1);
  return path === '' ? '/' : decodeURIComponent(path);
}

/** Queues and exchanges of the broker whose names start with `<namespace>.`, from the management API. */
export async function listNamespace(
  endpoints: Endpoints,
  namespace: string,
): Promise<{ queues: string[]; exchanges: string[] }> {
  const vhost = encodeURIComponent(vhostOf(endpoints.amqpUrl));
  const mine = (items: Array<{ name: string }>): string[] =>
    items.map((item) => item.name).filter((name) => name.startsWith(`${namespace}.`));
  const queues = mine(await management(endpoints.managementUrl, `/api/queues/${vhost}?columns=name`));
  const exchanges = mine(await management(endpoints.managementUrl, `/api/exchanges/${vhost}?columns=name`));
  return { queues, exchanges };
}

/**
 * Deletes everything of `namespace`: every queue and exchange named `<namespace>.…` that the management API lists
 * (or, when it does not answer, every name warren derives for `jobTypes`), and every Redis key `<namespace>:…`.
 * Refuses a namespace that is not a scale one.
 */
export async function sweepNamespace(
  endpoints: Endpoints,
  namespace: string,
  jobTypes: readonly string[],
): Promise<Sweep> {
  if (!namespace.startsWith(SCALE_PREFIX) || namespace.length <= SCALE_PREFIX.length)
    throw new Error(`refusing to sweep ${JSON.stringify(namespace)}: not a ${SCALE_PREFIX} namespace`);
  const problems: string[] = [];
  let queues: string[];
  let exchanges: string[];
  try {
    ({ queues, exchanges } = await listNamespace(endpoints, namespace));
  } catch (error) {
    problems.push(`management API: ${(error as Error).message}; deleted the derived names instead`);
    queues = namespaceQueues(namespace, jobTypes);
    exchanges = namespaceExchanges(namespace);
  }
  const failed = await deleteTopology(endpoints.amqpUrl, queues, exchanges);
  for (const error of failed) problems.push(String((error as Error).message ?? error));
  const redisKeys = await deleteRedisKeys(endpoints.redisUrl, namespace).catch((error: unknown) => {
    problems.push(`Redis: ${(error as Error).message}`);
    return 0;
  });
  return { queues: queues.length, exchanges: exchanges.length, redisKeys, problems };
}

/** Deletes the Redis keys `<namespace>:*` (warren's de-duplication and lock keys); resolves with how many. */
async function deleteRedisKeys(redisUrl: string, namespace: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  try {
    await redis.connect();
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}
