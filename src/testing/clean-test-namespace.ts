import type { Channel, ChannelModel } from 'amqplib';
import { DEFAULT_CONFIG } from '../config/config-options.js';
import {
  DELAY_LEVELS,
  deadExchange,
  deadQueue,
  delayLevel,
  delayedExchange,
  jobQueue,
  jobsExchange,
  legacyReplayLedgerQueue,
  requeueExchange,
  retryExchange,
  retryQueue,
} from '../topology/names.js';

/**
 * Every queue warren may have declared in `namespace` for these job types: their job, dead-letter and (older
 * versions') replay ledger queues, the retry tier queues of the default tiers and of `tiersMs`, and the delay
 * cascade. AMQP cannot list queues, so the names are derived, the way warren derives them.
 */
export function namespaceQueues(
  namespace: string,
  jobTypes: readonly string[],
  tiersMs: readonly number[] = [],
): string[] {
  const queues = jobTypes.flatMap((jobType) => [
    jobQueue(namespace, jobType),
    deadQueue(namespace, jobType),
    legacyReplayLedgerQueue(namespace, jobType),
  ]);
  for (const delayMs of new Set([...DEFAULT_CONFIG.retryTiersMs, ...tiersMs]))
    queues.push(retryQueue(namespace, delayMs));
  for (let level = 0; level < DELAY_LEVELS; level += 1) queues.push(delayLevel(namespace, level));
  return [...new Set(queues)];
}

/** Every exchange warren declares in `namespace`: the base exchanges and the delay cascade's. */
export function namespaceExchanges(namespace: string): string[] {
  const exchanges = [jobsExchange, deadExchange, retryExchange, requeueExchange, delayedExchange].map((name) =>
    name(namespace),
  );
  for (let level = 0; level < DELAY_LEVELS; level += 1) exchanges.push(delayLevel(namespace, level));
  return exchanges;
}

/**
 * Deletes these queues, then these exchanges, on a connection of its own; a missing one is no error. Each deletion
 * is tried on its own: one that fails (and takes its channel with it) does not skip the rest, which go on a fresh
 * channel. Resolves with what failed.
 */
export async function deleteTopology(
  amqpUrl: string,
  queues: readonly string[],
  exchanges: readonly string[],
): Promise<unknown[]> {
  const { default: amqplib } = await import('amqplib');
  const errors: unknown[] = [];
  let connection: ChannelModel;
  try {
    connection = await amqplib.connect(amqpUrl);
  } catch (error) {
    return [error];
  }
  connection.on('error', () => {});
  let channel: Channel | undefined;
  const step = async (work: (on: Channel) => Promise<unknown>): Promise<void> => {
    try {
      channel ??= await openChannel(connection);
      await work(channel);
    } catch (error) {
      errors.push(error);
      // A failed deletion closes its channel: the next step opens another.
      channel = undefined;
    }
  };
  for (const queue of queues) await step((on) => on.deleteQueue(queue));
  for (const exchange of exchanges) await step((on) => on.deleteExchange(exchange));
  try {
    await connection.close();
  } catch (error) {
    errors.push(error);
  }
  return errors;
}

/** Deletes every key of the namespace (`<namespace>:*`) by SCAN, never a flush. Resolves with how many went. */
export async function deleteRedisKeys(redisUrl: string, namespace: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

async function openChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  // A deletion refused by the broker closes the channel with an error event as well as rejecting the call.
  channel.on('error', () => {});
  return channel;
}
