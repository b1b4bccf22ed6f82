import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { JOB_TYPE, type BenchPayload } from '../lib/payload.js';
import { shortJobPrefetch, type BenchSystem, type ConsumerHooks, type TrialTarget } from './system.js';

/** The header carrying the attempt number on a retry copy. */
const ATTEMPT_HEADER = 'x-attempt';

/** Names of the raw topology: the same shape as warren's, so the broker does the same work. */
function names(id: string): {
  jobs: string;
  dead: string;
  retry: string;
  requeue: string;
  queue: string;
  deadQueue: string;
  tierQueue: (delayMs: number) => string;
  tierKey: (delayMs: number) => string;
} {
  const tier = (delayMs: number): string => (delayMs % 1000 === 0 ? `${delayMs / 1000}s` : `${delayMs}ms`);
  return {
    jobs: `${id}.jobs`,
    dead: `${id}.dead`,
    retry: `${id}.retry`,
    requeue: `${id}.requeue`,
    queue: `${id}.job.${JOB_TYPE}`,
    deadQueue: `${id}.dead.${JOB_TYPE}`,
    tierQueue: (delayMs) => `${id}.retry.${tier(delayMs)}`,
    tierKey: (delayMs) => `${tier(delayMs)}.${JOB_TYPE}`,
  };
}

/** The quorum-queue arguments warren sets wherever a queue dead-letters (at-least-once needs reject-publish). */
const AT_LEAST_ONCE = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } as const;

/**
 * Plain amqplib doing the same job with the same settings: a topic exchange, a quorum queue with warren's
 * arguments, persistent messages with the same properties, a confirm channel on its own connection, and a consumer
 * with the prefetch warren's bench system gives a job of this concurrency (twice it) that parses JSON, runs the
 * handler and acks. A failed attempt is copied (confirmed) to a
 * queue with a queue-level TTL that dead-letters back through a requeue exchange, then acked. This is the floor a
 * Node worker on this broker cannot go below.
 */
export class AmqplibSystem implements BenchSystem {
  readonly name = 'amqplib' as const;
  readonly #target: TrialTarget;
  readonly #names: ReturnType<typeof names>;
  #consumeConnection: ChannelModel | undefined;
  #publishConnection: ChannelModel | undefined;
  #publishChannel: ConfirmChannel | undefined;
  /** The consumer sends retry copies on the publishing connection: keep it open while it runs. */
  #consumerPublishes = false;

  constructor(target: TrialTarget) {
    this.#target = target;
    this.#names = names(target.id);
  }

  async declare(): Promise<void> {
    const connection = await amqp.connect(this.#target.amqpUrl);
    try {
      const channel = await connection.createChannel();
      const n = this.#names;
      await channel.assertExchange(n.jobs, 'topic', { durable: true });
      await channel.assertExchange(n.dead, 'direct', { durable: true });
      await channel.assertExchange(n.retry, 'topic', { durable: true });
      await channel.assertExchange(n.requeue, 'topic', { durable: true });
      await channel.assertQueue(n.queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-dead-letter-exchange': n.dead,
          'x-dead-letter-routing-key': JOB_TYPE,
          'x-delivery-limit': 5,
          ...AT_LEAST_ONCE,
        },
      });
      await channel.assertQueue(n.deadQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.bindQueue(n.queue, n.jobs, JOB_TYPE);
      await channel.bindQueue(n.queue, n.requeue, `*.${JOB_TYPE}`);
      await channel.bindQueue(n.deadQueue, n.dead, JOB_TYPE);
      const delayMs = this.#target.retryDelayMs;
      if (delayMs !== undefined) {
        await channel.assertQueue(n.tierQueue(delayMs), {
          durable: true,
          arguments: {
            'x-queue-type': 'quorum',
            'x-message-ttl': delayMs,
            'x-dead-letter-exchange': n.requeue,
            ...AT_LEAST_ONCE,
          },
        });
        await channel.bindQueue(n.tierQueue(delayMs), n.retry, n.tierKey(delayMs).replace(JOB_TYPE, '#'));
      }
      await channel.close();
    } finally {
      await connection.close();
    }
  }

  async #openPublisher(): Promise<ConfirmChannel> {
    if (this.#publishChannel) return this.#publishChannel;
    const connection = await amqp.connect(this.#target.amqpUrl);
    connection.on('error', () => {});
    this.#publishConnection = connection;
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => {});
    this.#publishChannel = channel;
    return channel;
  }

  async #closePublisher(): Promise<void> {
    const connection = this.#publishConnection;
    this.#publishChannel = undefined;
    this.#publishConnection = undefined;
    await connection?.close().catch(() => {});
  }

  async startConsumer(hooks: ConsumerHooks): Promise<void> {
    await this.declare();
    // Retry copies go out on a confirm channel of a separate connection, as warren's do.
    const retryChannel = this.#target.retryDelayMs === undefined ? undefined : await this.#openPublisher();
    this.#consumerPublishes = retryChannel !== undefined;
    const connection = await amqp.connect(this.#target.amqpUrl);
    connection.on('error', () => {});
    this.#consumeConnection = connection;
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    // As many unacknowledged as warren holds for a job of this concurrency: the same broker round trips.
    await channel.prefetch(shortJobPrefetch(this.#target.prefetch));
    const { retry } = this.#names;
    const tierKey = this.#target.retryDelayMs === undefined ? '' : this.#names.tierKey(this.#target.retryDelayMs);
    await channel.consume(this.#names.queue, (message: ConsumeMessage | null) => {
      if (message === null) return;
      const headers = message.properties.headers;
      const attempt = Number(headers?.[ATTEMPT_HEADER] ?? 1);
      try {
        hooks.handle(JSON.parse(message.content.toString('utf8')) as BenchPayload, attempt);
      } catch (error) {
        if (retryChannel === undefined) {
          channel.reject(message, true);
          return;
        }
        // Copy to the tier queue; ack the original only once the copy is confirmed.
        const { properties } = message;
        retryChannel.publish(
          retry,
          tierKey,
          message.content,
          {
            messageId: properties.messageId,
            type: properties.type,
            timestamp: properties.timestamp,
            contentType: properties.contentType,
            persistent: true,
            mandatory: true,
            headers: { ...headers, [ATTEMPT_HEADER]: attempt + 1, 'x-error': (error as Error).message },
          },
          (err: unknown) => {
            if (err) channel.reject(message, true);
            else channel.ack(message);
          },
        );
        return;
      }
      channel.ack(message);
      hooks.acked();
    });
  }

  async startPublisher(): Promise<void> {
    await this.#openPublisher();
  }

  publish(payload: BenchPayload): Promise<void> {
    const channel = this.#publishChannel;
    if (!channel) return Promise.reject(new Error('publisher not started'));
    const properties: Options.Publish = {
      messageId: randomUUID(),
      type: JOB_TYPE,
      timestamp: Math.floor(Date.now() / 1000),
      contentType: 'application/json',
      persistent: true,
      mandatory: true,
    };
    return new Promise<void>((resolve, reject) => {
      channel.publish(
        this.#names.jobs,
        JOB_TYPE,
        Buffer.from(JSON.stringify(payload), 'utf8'),
        properties,
        (err: unknown) => {
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else resolve();
        },
      );
    });
  }

  async stopPublisher(): Promise<void> {
    if (!this.#consumerPublishes) await this.#closePublisher();
  }

  async stopConsumer(): Promise<void> {
    const connection = this.#consumeConnection;
    this.#consumeConnection = undefined;
    await connection?.close().catch(() => {});
    this.#consumerPublishes = false;
  }

  async close(): Promise<void> {
    await this.stopConsumer();
    await this.#closePublisher();
  }

  async destroy(): Promise<void> {
    await deleteAmqplibTopology(this.#target.amqpUrl, this.#target.id, this.#target.retryDelayMs);
  }
}

/** Deletes what {@link AmqplibSystem} declares for a trial id (missing ones are fine). */
export async function deleteAmqplibTopology(amqpUrl: string, id: string, retryDelayMs = 1000): Promise<void> {
  const n = names(id);
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    for (const queue of [n.queue, n.deadQueue, n.tierQueue(retryDelayMs)]) await channel.deleteQueue(queue);
    for (const exchange of [n.jobs, n.dead, n.retry, n.requeue]) await channel.deleteExchange(exchange);
    await channel.close();
  } finally {
    await connection.close();
  }
}
