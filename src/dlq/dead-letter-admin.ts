import type { ChannelModel } from 'amqplib';
import { settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { DEFAULT_CONFIG } from '../config/config-options.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { TopologyConflictError } from '../errors/topology-conflict-error.js';
import { declareQueueOrLegacy, toTopologyError } from '../topology/declare-topology.js';
import { deadQueue } from '../topology/names.js';
import { jobTopology } from '../topology/topology-plan.js';
import { readDeadLetterContext, type DeadLetterContext, type DeadLetterMessage } from './dead-letter-context.js';
import type { DeadLetterAdminOptions } from './dead-letter-admin-options.js';
import { queueStatus } from './queue-status.js';
import { requireDeadLetterQueue } from './require-dead-letter-queue.js';

/** One job type's dead-letter queue, as `warren dlq list` shows it. */
export interface DeadLetterQueueStats {
  readonly jobType: string;
  readonly queue: string;
  /** Messages ready in it (0 when it is not declared). */
  readonly messages: number;
  /** False when the queue does not exist (no worker for the job type has declared it yet). */
  readonly declared: boolean;
}

type State = 'idle' | 'running' | 'stopped';

/**
 * Counts, peeks at and purges dead-letter queues, on a connection of its own. Peeking never consumes: the
 * messages are fetched unacknowledged and given back, and a dead-letter queue's delivery limit
 * (`DEAD_LETTER_DELIVERY_LIMIT`) keeps those returns from ever counting a dead letter out. For replaying, see
 * `DeadLetterReplay`.
 */
export class DeadLetterAdmin {
  readonly #options: DeadLetterAdminOptions;
  readonly #connection: BrokerConnection;
  #state: State = 'idle';
  #closing: Promise<void> | undefined;

  constructor(options: DeadLetterAdminOptions) {
    this.#options = options;
    this.#connection = new BrokerConnection({
      url: options.config.amqpUrl,
      urlSource: settingSource(options.config, 'amqpUrl'),
      purpose: 'admin',
      heartbeatSeconds: options.config.heartbeatSeconds,
      logger: options.logger,
      onConnectRetry: options.onConnectRetry,
    });
  }

  /** Connects. @throws ConnectionError */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new IllegalStateError(`the dead-letter admin cannot start: it is ${this.#state}`);
    this.#state = 'running';
    await this.#connection.start(this.#options.connectTimeoutMs ?? 5_000);
  }

  /** The dead-letter queue of each job type and its depth; a queue that does not exist counts 0, `declared: false`. */
  async list(jobTypes: readonly string[]): Promise<DeadLetterQueueStats[]> {
    const model = this.#model();
    const stats: DeadLetterQueueStats[] = [];
    for (const jobType of jobTypes) {
      const queue = deadQueue(this.#options.config.namespace, jobType);
      const count = (await queueStatus(model, queue))?.messages;
      stats.push({ jobType, queue, messages: count ?? 0, declared: count !== undefined });
    }
    return stats;
  }

  /**
   * Up to `limit` dead letters from the head of the queue, with their context, left in the queue: they are fetched
   * without acknowledgement and given back together (`nack` with requeue) before this resolves. Each read raises
   * their `x-delivery-count`, nothing else.
   *
   * The order: a quorum queue puts what is given back ahead of every message never given back, behind what was
   * given back before it (measured on RabbitMQ 3.10 with a delivery limit and on 4.0). So peeks keep the queue's
   * order as long as none reads fewer than an earlier read gave back (the same `limit` again keeps it); a smaller one
   * moves the dead letters it shows behind the others read before. Reading on past `limit` through what was given
   * back would keep the order, but would cost a read of all of it each time, and add one to it.
   * @throws ConfigError naming the job type when it has no dead-letter queue.
   */
  async peek(jobType: string, limit: number): Promise<DeadLetterContext[]> {
    const contexts: DeadLetterContext[] = [];
    await this.scan(jobType, limit, (context) => void contexts.push(context));
    return contexts;
  }

  /**
   * Reads up to `limit` dead letters from the head of the queue exactly as {@link peek} does (fetched unacknowledged,
   * all given back together before this resolves), handing each to `visit` with its message as it is read, and keeps
   * none: a caller that reads many keeps only what it needs of each (the web UI keeps no bodies but one). Resolves
   * with how many were read.
   * @throws ConfigError naming the job type when it has no dead-letter queue.
   */
  async scan(
    jobType: string,
    limit: number,
    visit: (context: DeadLetterContext, message: DeadLetterMessage) => void,
  ): Promise<number> {
    const model = this.#model();
    await requireDeadLetterQueue(model, this.#options.config.namespace, jobType);
    const queue = deadQueue(this.#options.config.namespace, jobType);
    const channel = await model.createChannel();
    channel.on('error', () => {});
    let read = 0;
    try {
      while (read < limit) {
        const message = await channel.get(queue, { noAck: false });
        if (message === false) break;
        read += 1;
        visit(readDeadLetterContext(message, { deliveryLimit: this.#options.config.deliveryLimit }), message);
      }
    } finally {
      // Given back explicitly, all at once after the last read, so that none is fetched twice and they go back in
      // their order. A nack, not a reject, and not left to the channel's close: from RabbitMQ 4.3 a nack with
      // requeue no longer counts toward the delivery limit while a reject does (as a crash or a lost connection
      // do), so on 4.3+ this read costs nothing at all. 3.x and 4.0-4.2 count every return however it is made;
      // there the dead-letter queue's own limit (DEAD_LETTER_DELIVERY_LIMIT) keeps reads from counting a dead letter
      // out (README: RabbitMQ versions). In `finally`, so that a `visit` that throws gives them back the same way.
      try {
        if (read > 0) channel.nackAll(true);
      } catch {
        // The channel is gone, and with it what it held: the broker gives those back itself.
      }
      await channel.close().catch(() => {});
    }
    return read;
  }

  /**
   * True when a job type's dead-letter queue was declared by an earlier warren without the delivery limit that keeps
   * reads from counting its dead letters out (`legacyDeadLetterQueueWarning` says what that risks); false when it
   * has it, is a classic queue, or differs in more than that (a worker's start names the conflict).
   * @throws ConfigError naming the job type when it has no dead-letter queue.
   */
  async lacksDeliveryLimit(jobType: string): Promise<boolean> {
    const model = this.#model();
    const { namespace, queueType = DEFAULT_CONFIG.queueType } = this.#options.config;
    await requireDeadLetterQueue(model, namespace, jobType);
    const settings = { namespace, queueType, deliveryLimit: DEFAULT_CONFIG.deliveryLimit };
    const dead = jobTopology(settings, jobType).queues.find((queue) => queue.role === 'dead');
    if (!dead?.legacyArguments) return false;
    try {
      // The queue exists: declaring it with the arguments it already has changes nothing.
      return (await declareQueueOrLegacy(model, dead)) === 'legacy';
    } catch (error) {
      if (toTopologyError(error) instanceof TopologyConflictError) return false;
      throw error;
    }
  }

  /** Messages ready in a job type's dead-letter queue. @throws ConfigError naming the job type when it has none. */
  async count(jobType: string): Promise<number> {
    return requireDeadLetterQueue(this.#model(), this.#options.config.namespace, jobType);
  }

  /**
   * Deletes every ready message of a job type's dead-letter queue; resolves with how many were removed. Messages a
   * running peek or replay holds at that moment are not ready, and stay.
   * @throws ConfigError naming the job type when it has no dead-letter queue.
   */
  async purge(jobType: string): Promise<number> {
    const model = this.#model();
    await requireDeadLetterQueue(model, this.#options.config.namespace, jobType);
    const channel = await model.createChannel();
    channel.on('error', () => {});
    try {
      const { messageCount } = await channel.purgeQueue(deadQueue(this.#options.config.namespace, jobType));
      return messageCount;
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'stopped';
      await this.#connection.close();
    })();
    return this.#closing;
  }

  #model(): ChannelModel {
    const model = this.#state === 'running' ? this.#connection.manager.connection : undefined;
    if (!model) throw new IllegalStateError(`the dead-letter admin is not connected (it is ${this.#state})`);
    return model;
  }
}
