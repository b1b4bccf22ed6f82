import type { GetMessage } from 'amqplib';
import { DEFAULT_CONFIG, HEADERS, deadExchange, planTopology } from 'warren';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { rawConnection, run, testManagementApi, waitFor } from './broker.js';

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

/** How many times each message id occurs. */
export type IdCounts = Map<string, number>;

/** Counts the message ids of `messages`. */
export function countIds(messages: readonly GetMessage[]): IdCounts {
  const counts: IdCounts = new Map();
  for (const message of messages) {
    const id = String(message.properties.messageId);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * The message ids of every message ready in `queue`, read and given back: resolves once the queue counts them as
 * ready again (a quorum queue takes back what is handed back asynchronously).
 */
export async function readIds(queue: string): Promise<IdCounts> {
  const connection = await rawConnection();
  const messages: GetMessage[] = [];
  try {
    const channel = await connection.createChannel();
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) break;
      messages.push(message);
    }
    if (messages.length > 0) channel.nackAll(true);
    await waitFor(
      `${queue} to take back ${messages.length} messages`,
      async () => (await channel.checkQueue(queue)).messageCount >= messages.length,
    );
    await channel.close();
  } finally {
    await connection.close();
  }
  return countIds(messages);
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

/**
 * Puts a length limit on one queue of the test broker: a policy (`max-length`, `overflow: reject-publish`) whose
 * pattern matches that queue's name only, so the broker refuses (nacks) publishes once it holds `maxLength`.
 * Resolves once the limit is seen in force (a probe publish is refused; the probes are then purged), with a
 * function that removes the policy (idempotent). Set through the management HTTP API when it answers on the AMQP port + 10000
 * (RabbitMQ 4.0 here: 15674), else through the system's `rabbitmqctl` (RabbitMQ 3.10).
 */
export async function limitQueueLength(queue: string, maxLength: number): Promise<() => Promise<void>> {
  const name = `warren-test-limit-${queue}`;
  const pattern = `^${queue.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}$`;
  const definition = { 'max-length': maxLength, overflow: 'reject-publish' };
  const api = await managementApi();
  if (api) {
    await api.request('PUT', `/api/policies/%2F/${encodeURIComponent(name)}`, {
      pattern,
      definition,
      priority: 100,
      'apply-to': 'queues',
    });
  } else {
    await run('rabbitmqctl', [
      '-q',
      'set_policy',
      '--priority',
      '100',
      '--apply-to',
      'queues',
      name,
      pattern,
      JSON.stringify(definition),
    ]);
  }
  let cleared: Promise<void> | undefined;
  const clear = (): Promise<void> =>
    (cleared ??= api
      ? api.request('DELETE', `/api/policies/%2F/${encodeURIComponent(name)}`)
      : run('rabbitmqctl', ['-q', 'clear_policy', name]).then(() => {}));
  try {
    await probeUntilRefused(queue, maxLength);
  } catch (error) {
    await clear();
    throw error;
  }
  return clear;
}

/** Publishes probes to `queue` one at a time until the broker refuses one, then purges them. */
async function probeUntilRefused(queue: string, maxLength: number): Promise<void> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createConfirmChannel();
    const publish = (): Promise<boolean> =>
      new Promise((resolve) =>
        channel.sendToQueue(queue, Buffer.from('{}'), { persistent: true, messageId: 'probe' }, (err) =>
          resolve(err === null || err === undefined),
        ),
      );
    // A policy reaches a quorum queue asynchronously: until it does, probes are accepted past the limit.
    const deadline = Date.now() + 20_000;
    while (await publish()) {
      if (Date.now() > deadline) throw new Error(`${queue} still accepts publishes past max-length ${maxLength}`);
    }
    await channel.purgeQueue(queue);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** The management HTTP API of the test broker, when it answers (AMQP port + 10000, the AMQP URL's credentials). */
async function managementApi(): Promise<
  { request: (method: string, path: string, body?: unknown) => Promise<void> } | undefined
> {
  const { base, user, password } = testManagementApi();
  const headers = {
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    'content-type': 'application/json',
  };
  try {
    const overview = await fetch(`${base}/api/overview`, { headers, signal: AbortSignal.timeout(2_000) });
    if (!overview.ok) return undefined;
  } catch {
    return undefined;
  }
  return {
    request: async (method, path, body) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    },
  };
}
