import type { GetMessage } from 'amqplib';
import { DEFAULT_CONFIG, HEADERS, deadExchange, planTopology } from 'warren';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { rawConnection, waitFor } from './broker.js';

/**
 * Declares the topology of `jobTypes` in `namespace` (as a worker would, without consuming) and puts `count` dead
 * letters of the first job type straight into its dead-letter queue, shaped like warren's own: message ids
 * `<prefix>-<n>`, JSON bodies `{"n": n}`, the failure headers of a third failed attempt. Confirmed.
 */
export async function fillDeadLetters(
  namespace: string,
  jobTypes: readonly [string, ...string[]],
  count: number,
  prefix = 'dl',
): Promise<string[]> {
  const [jobType] = jobTypes;
  const connection = await rawConnection();
  try {
    const setup = await connection.createChannel();
    const settings = { namespace, queueType: DEFAULT_CONFIG.queueType, deliveryLimit: DEFAULT_CONFIG.deliveryLimit };
    await declareTopology(
      setup,
      planTopology(
        settings,
        jobTypes.map((type) => ({ jobType: type, tiersMs: [500] })),
      ),
    );
    await setup.close();
    const channel = await connection.createConfirmChannel();
    const ids: string[] = [];
    const failedAt = new Date(Date.now() - 60_000).toISOString();
    for (let n = 0; n < count; n += 1) {
      const messageId = `${prefix}-${n}`;
      ids.push(messageId);
      channel.publish(deadExchange(namespace), jobType, Buffer.from(JSON.stringify({ n })), {
        messageId,
        type: jobType,
        contentType: 'application/json',
        timestamp: Math.floor(Date.now() / 1000),
        persistent: true,
        mandatory: true,
        headers: {
          [HEADERS.reason]: 'exhausted',
          [HEADERS.attempt]: 3,
          [HEADERS.errorName]: 'TypeError',
          [HEADERS.errorMessage]: `boom ${n}`,
          [HEADERS.errorStack]: `TypeError: boom ${n}\n    at handler`,
          [HEADERS.firstFailureAt]: failedAt,
          [HEADERS.lastFailureAt]: failedAt,
          [HEADERS.originalQueue]: `${namespace}.job.${jobType}`,
          [HEADERS.originalRoutingKey]: jobType,
          [HEADERS.workerHost]: 'worker-1',
          [HEADERS.workerPid]: 4242,
          'x-delivery-count': 1,
          'x-app-tag': 'kept',
        },
      });
    }
    await channel.waitForConfirms();
    await channel.close();
    return ids;
  } finally {
    await connection.close();
  }
}

/** Takes every message ready in `queue` (acknowledged: they are gone afterwards). */
export async function drainQueue(queue: string): Promise<GetMessage[]> {
  const connection = await rawConnection();
  const messages: GetMessage[] = [];
  try {
    const channel = await connection.createChannel();
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) break;
      messages.push(message);
    }
    await channel.close();
  } finally {
    await connection.close();
  }
  return messages;
}

/**
 * Waits until nothing consumes `queue` any more: after a consuming process died, the broker has then put back
 * everything it held (a quorum queue drops acknowledgements it had not applied yet, and returns those messages).
 */
export async function waitUntilUnconsumed(queue: string): Promise<void> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createChannel();
    await waitFor(`no consumer on ${queue}`, async () => (await channel.checkQueue(queue)).consumerCount === 0);
    await channel.close();
  } finally {
    await connection.close();
  }
}
