import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ChannelModel, Message } from 'amqplib';
import { settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { ConfigError } from '../errors/config-error.js';
import { ConnectionError } from '../errors/connection-error.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { PublishRejectedError } from '../errors/publish-rejected-error.js';
import { PublishTimeoutError } from '../errors/publish-timeout-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import { declareTopology } from '../topology/declare-topology.js';
import {
  deadQueue,
  jobQueue,
  replayLedgerQueue,
  replayLedgerRoutingKey,
  replayRoutingKey,
  requeueBindingKey,
  requeueExchange,
} from '../topology/names.js';
import { ledgerTopology } from '../topology/topology-plan.js';
import { readDeadLetterContext, type DeadLetterContext } from './dead-letter-context.js';
import type { DeadLetterReplayOptions, ReplayProgress } from './dead-letter-replay-options.js';
import { queueStatus } from './queue-status.js';
import { replayCopy } from './replay-copy.js';
import { HEADERS } from '../messages/headers.js';
import { replayLockQueue } from '../topology/names.js';
import { requireDeadLetterQueue } from './require-dead-letter-queue.js';

/** Republishes awaiting their confirm at once, by default. */
const DEFAULT_MAX_UNCONFIRMED = 100;
/** With nothing in flight and no delivery for this long, the dead-letter queue has run dry. */
const IDLE_END_MS = 2_000;
/** How long to wait for the broker to take back what a closed channel held. */
const SETTLE_WAIT_MS = 10_000;
/** Passes over the dead-letter queue before the ledger is emptied; each normally finds nothing after the first. */
const MAX_SWEEPS = 5;

/** What a finished replay did. */
export interface ReplaySummary {
  readonly jobType: string;
  /** The job queue the dead letters went back to. */
  readonly queue: string;
  readonly deadLetterQueue: string;
  /** Dead letters the replay took on: its limit, or all that were in the queue when it started. */
  readonly total: number;
  /** Republished (confirmed), then acknowledged. */
  readonly replayed: number;
  /** Already republished by an earlier, interrupted replay: acknowledged without republishing. */
  readonly skipped: number;
  /** Dead letters left in the dead-letter queue afterwards. */
  readonly remaining: number;
  /**
   * What became of the replay ledger: `purged` (emptied after a pass over the dead-letter queue found none of the
   * dead letters it records) or `kept` (after a replay with a limit or one that was stopped: the next one needs it).
   */
  readonly ledger: 'purged' | 'kept';
  /** True when the replay was stopped by its abort signal before it had taken on `total`. */
  readonly interrupted: boolean;
}

/** One dead letter a dry run found. */
export interface ReplayPlanEntry {
  readonly context: DeadLetterContext;
  /** In the ledger: a replay would acknowledge it without republishing. */
  readonly alreadyReplayed: boolean;
}

/** What a replay would do (`--dry-run`); nothing was changed. */
export interface ReplayPlan {
  readonly jobType: string;
  readonly queue: string;
  readonly deadLetterQueue: string;
  /** False when the job queue does not exist: a replay would stop at once. */
  readonly queueDeclared: boolean;
  /** Dead letters in the queue. */
  readonly deadLetters: number;
  readonly entries: readonly ReplayPlanEntry[];
}

/** A failure, made into an error once the counts it should report are known. */
type Failure = (counts: string) => Error;

interface ReplayOutcome {
  readonly taken: number;
  readonly replayed: number;
  readonly skipped: number;
  /** Identities of the dead letters this replay acknowledged. */
  readonly done: ReadonlySet<string>;
  readonly failure: Failure | undefined;
  readonly interrupted: boolean;
}

/**
 * Moves a job type's dead letters back to its queue, exactly once per dead letter even when a replay is killed and
 * run again.
 *
 * Each dead letter is republished as ONE confirmed, mandatory publish to the requeue exchange with routing key
 * `replay.<jobType>` (bound only to the job's own queue) and sender-selected distribution (`BCC`) to the replay
 * ledger queue: the broker routes that one message to both. Its dead letter is acknowledged only after that
 * confirm. A replay first reads the whole ledger (giving the entries back): a dead letter whose identity is there was
 * republished by a replay that did not get to acknowledge it (killed, or its acknowledgement lost), and is
 * acknowledged without being sent again. The ledger is emptied only after a complete replay has checked that no dead
 * letter it records is left in the queue. An exclusive lock queue keeps two replays of one job type apart.
 */
export class DeadLetterReplay {
  readonly #options: DeadLetterReplayOptions;
  readonly #queues: { readonly dead: string; readonly job: string; readonly ledger: string; readonly lock: string };
  #used = false;

  /** @throws ConfigError when `limit` or `maxUnconfirmed` is not a positive whole number. */
  constructor(options: DeadLetterReplayOptions) {
    for (const [name, value] of [
      ['limit', options.limit],
      ['maxUnconfirmed', options.maxUnconfirmed],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new ConfigError(`${name} must be a whole number, 1 or more; got ${String(value)}`);
      }
    }
    this.#options = options;
    const { namespace } = options.config;
    const { jobType } = options;
    this.#queues = {
      dead: deadQueue(namespace, jobType),
      job: jobQueue(namespace, jobType),
      ledger: replayLedgerQueue(namespace, jobType),
      lock: replayLockQueue(namespace, jobType),
    };
  }

  /**
   * Replays up to `limit` dead letters (default: all present at the start) and resolves with what it did.
   * @throws ConfigError (no dead-letter queue for the job type), IllegalStateError (another replay of it is
   *   running), UnroutableError (no job queue; or a republish came back unroutable), PublishRejectedError,
   *   PublishTimeoutError (indeterminate), ConnectionError. A dead letter whose republish was not confirmed stays in
   *   the dead-letter queue; running the replay again is always safe.
   */
  async run(): Promise<ReplaySummary> {
    this.#claim();
    const admin = this.#connection('admin');
    const publishing = this.#connection('publish');
    try {
      const model = await this.#start(admin);
      const { namespace } = this.#options.config;
      const { jobType, limit } = this.#options;
      await requireDeadLetterQueue(model, namespace, jobType);
      await this.#lock(model);
      await this.#prepareRoutes(model);
      const ledger = await this.#readLedger(model);
      const inQueue = (await queueStatus(model, this.#queues.dead))?.messages ?? 0;
      const total = Math.min(limit ?? inQueue, inQueue);
      const outcome = await this.#replay(model, await this.#start(publishing), ledger, total);
      // From here on the queue holds again whatever the closed channel held, acknowledgements it lost included.
      const settled = await this.#settledByBroker(model);
      if (outcome.failure) {
        throw outcome.failure(
          `; ${outcome.replayed} replayed and ${outcome.skipped} skipped before it stopped. Running the replay again is ` +
            'safe: dead letters already republished are recognised and not sent twice',
        );
      }
      if ((await queueStatus(model, this.#queues.job)) === undefined) {
        // Its copies were routed to the ledger alone from then on: keep every ledger entry, the copies with them.
        throw new UnroutableError(
          `the queue ${this.#queues.job} of "${jobType}" was deleted during the replay (${outcome.replayed} replayed); ` +
            `copies sent after that are kept in ${this.#queues.ledger}: move them to the job queue by hand`,
        );
      }
      let skipped = outcome.skipped;
      let cleared: ReplaySummary['ledger'] = 'kept';
      if (settled && !outcome.interrupted && outcome.taken === inQueue) {
        const known = new Set([...ledger, ...outcome.done]);
        const found = new Set<string>();
        for (let pass = 0; pass < MAX_SWEEPS; pass += 1) {
          const sweep = await this.#sweep(model, known);
          for (const identity of sweep.acknowledged) found.add(identity);
          if (!sweep.settled) break;
          if (sweep.acknowledged.length === 0) {
            await this.#onChannel(model, (channel) => channel.purgeQueue(this.#queues.ledger));
            cleared = 'purged';
            break;
          }
        }
        // Ledger entries of an earlier replay whose dead letters the main pass did not get (another client held them).
        skipped += [...found].filter((identity) => !outcome.done.has(identity)).length;
      }
      return {
        jobType,
        queue: this.#queues.job,
        deadLetterQueue: this.#queues.dead,
        total,
        replayed: outcome.replayed,
        skipped,
        remaining: (await queueStatus(model, this.#queues.dead))?.messages ?? 0,
        ledger: cleared,
        interrupted: outcome.interrupted,
      };
    } finally {
      // Closing the connection also releases the lock (an exclusive queue goes with its connection).
      await publishing.close().catch(() => {});
      await admin.close().catch(() => {});
    }
  }

  /**
   * A dry run: the dead letters a replay would take on, each marked when the ledger shows it was already
   * republished. Changes nothing: the messages are fetched unacknowledged and given back.
   * @throws ConfigError when the job type has no dead-letter queue.
   */
  async plan(): Promise<ReplayPlan> {
    this.#claim();
    const admin = this.#connection('admin');
    try {
      const model = await this.#start(admin);
      const deadLetters = await requireDeadLetterQueue(model, this.#options.config.namespace, this.#options.jobType);
      const queueDeclared = (await queueStatus(model, this.#queues.job)) !== undefined;
      const ledgerDeclared = (await queueStatus(model, this.#queues.ledger)) !== undefined;
      const ledger = ledgerDeclared ? await this.#readLedger(model) : new Set<string>();
      const take = Math.min(this.#options.limit ?? deadLetters, deadLetters);
      const seen = new Set<string>();
      const entries: ReplayPlanEntry[] = [];
      await this.#onChannel(model, async (channel) => {
        while (entries.length < take) {
          const message = await channel.get(this.#queues.dead, { noAck: false });
          if (message === false) break;
          const context = readDeadLetterContext(message, { deliveryLimit: this.#options.config.deliveryLimit });
          entries.push({ context, alreadyReplayed: ledger.has(context.identity) || seen.has(context.identity) });
          seen.add(context.identity);
        }
        if (entries.length > 0) channel.nackAll(true);
      });
      return {
        jobType: this.#options.jobType,
        queue: this.#queues.job,
        deadLetterQueue: this.#queues.dead,
        queueDeclared,
        deadLetters,
        entries,
      };
    } finally {
      await admin.close().catch(() => {});
    }
  }

  #claim(): void {
    if (this.#used) throw new IllegalStateError('a DeadLetterReplay runs once; create another for the next replay');
    this.#used = true;
  }

  #connection(purpose: 'admin' | 'publish'): BrokerConnection {
    const { config, logger, onConnectRetry } = this.#options;
    return new BrokerConnection({
      url: config.amqpUrl,
      urlSource: settingSource(config, 'amqpUrl'),
      purpose,
      heartbeatSeconds: config.heartbeatSeconds,
      logger,
      onConnectRetry,
    });
  }

  async #start(connection: BrokerConnection): Promise<ChannelModel> {
    await connection.start(this.#options.connectTimeoutMs ?? 5_000);
    const model = connection.manager.connection;
    if (!model) throw new ConnectionError('the connection to RabbitMQ closed as soon as it opened');
    return model;
  }

  /** Runs `work` on a channel of its own, closed afterwards (which gives back anything fetched and not settled). */
  async #onChannel<T>(model: ChannelModel, work: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // Reported by the failing call; the error closes only this channel.
    });
    try {
      return await work(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Takes the replay lock of the job type for the life of the connection. */
  async #lock(model: ChannelModel): Promise<void> {
    try {
      await this.#onChannel(model, (channel) =>
        channel.assertQueue(this.#queues.lock, { exclusive: true, durable: false, autoDelete: true }),
      );
    } catch (error) {
      if ((error as { code?: unknown }).code !== 405) throw error;
      throw new IllegalStateError(
        `another replay of "${this.#options.jobType}" is running (it holds ${this.#queues.lock}); wait for it to finish`,
        { cause: error },
      );
    }
  }

  /**
   * Declares the ledger and makes sure the job queue exists and is bound for replays. Checked up front because the
   * BCC copy to the ledger makes every republish routable: a missing job queue would not make it come back.
   */
  async #prepareRoutes(model: ChannelModel): Promise<void> {
    const { config, jobType } = this.#options;
    await this.#onChannel(model, (channel) => declareTopology(channel, ledgerTopology(config, jobType), model));
    if ((await queueStatus(model, this.#queues.job)) === undefined) {
      throw new UnroutableError(
        `cannot replay the dead letters of "${jobType}": its queue ${this.#queues.job} does not exist, so nothing would ` +
          `receive them; start a worker for "${jobType}" (or run \`warren topology --apply\`) and replay again. Nothing was replayed`,
      );
    }
    // The binding every worker declares for the job; asserted again so that a replay cannot land in the ledger alone.
    await this.#onChannel(model, (channel) =>
      channel.bindQueue(this.#queues.job, requeueExchange(config.namespace), requeueBindingKey(jobType)),
    );
  }

  /** The identities in the ledger. Every entry is given back: reading changes nothing. */
  async #readLedger(model: ChannelModel): Promise<Set<string>> {
    const identities = new Set<string>();
    await this.#onChannel(model, async (channel) => {
      let held = false;
      for (;;) {
        const entry = await channel.get(this.#queues.ledger, { noAck: false });
        if (entry === false) break;
        held = true;
        const identity = replayOf(entry);
        if (identity !== undefined) identities.add(identity);
      }
      if (held) channel.nackAll(true);
    });
    return identities;
  }

  /**
   * Waits until the broker has taken back what the closed consuming channels held: the dead-letter queue has no
   * consumer left. A quorum queue applies acknowledgements asynchronously, and those not yet applied when a channel
   * closes are dropped, their messages returned; only after this are they back in the queue, for a sweep to find.
   * False when the queue still has a consumer (another client's) at the deadline.
   */
  async #settledByBroker(model: ChannelModel): Promise<boolean> {
    const deadline = Date.now() + SETTLE_WAIT_MS;
    for (;;) {
      const status = await queueStatus(model, this.#queues.dead);
      if (status === undefined || status.consumers === 0) return true;
      if (Date.now() > deadline) {
        this.#options.logger.warn(
          { queue: this.#queues.dead, consumers: status.consumers },
          'another client consumes the dead-letter queue; keeping the replay ledger',
        );
        return false;
      }
      await sleep(50);
    }
  }

  /**
   * One pass over the dead-letter queue: acknowledges every dead letter whose identity is `known` (republished
   * already: an acknowledgement that was lost, or an entry of an earlier replay), gives the others back, and waits
   * for the broker to settle. Resolves with the identities acknowledged.
   */
  async #sweep(model: ChannelModel, known: ReadonlySet<string>): Promise<{ acknowledged: string[]; settled: boolean }> {
    const ready = (await queueStatus(model, this.#queues.dead))?.messages ?? 0;
    if (ready === 0) return { acknowledged: [], settled: true };
    const acknowledged: string[] = [];
    let seen = 0;
    let lastDeliveryAt = Date.now();
    await this.#onChannel(model, async (channel) => {
      const { consumerTag } = await channel.consume(
        this.#queues.dead,
        (message) => {
          if (message === null || seen >= ready) return;
          seen += 1;
          lastDeliveryAt = Date.now();
          const { identity } = readDeadLetterContext(message);
          if (known.has(identity)) {
            channel.ack(message);
            acknowledged.push(identity);
          }
        },
        { noAck: false },
      );
      while (seen < ready && Date.now() - lastDeliveryAt < IDLE_END_MS) await sleep(20);
      // basic.cancel is a round trip to the queue: acknowledgements sent before it are applied in practice.
      await channel.cancel(consumerTag);
    });
    return { acknowledged, settled: await this.#settledByBroker(model) };
  }

  async #replay(
    model: ChannelModel,
    publishModel: ChannelModel,
    ledger: ReadonlySet<string>,
    total: number,
  ): Promise<ReplayOutcome> {
    const { config, jobType, signal } = this.#options;
    const exchange = requeueExchange(config.namespace);
    const routingKey = replayRoutingKey(jobType);
    const bcc = [replayLedgerRoutingKey(jobType)];
    const dead = this.#queues.dead;

    let failure: Failure | undefined;
    let ending = false;
    let inFlight = 0;
    let taken = 0;
    let replayed = 0;
    let skipped = 0;
    let confirmed = 0;
    let lastDeliveryAt = Date.now();
    const done = new Set<string>();
    const sent = new Set<string>();
    const returned = new Set<string>();
    const waiters: Array<() => void> = [];
    const wake = (): void => {
      for (const waiter of waiters.splice(0)) waiter();
    };
    const until = (condition: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (condition()) resolve();
          else waiters.push(check);
        };
        check();
      });
    const fail = (next: Failure): void => {
      failure ??= next;
      wake();
    };
    const lost = (what: string) => (err?: Error) => {
      if (ending) return;
      fail(
        (counts) =>
          new ConnectionError(`the ${what} closed during the replay${err ? ` (${err.message})` : ''}${counts}`, {
            cause: err,
          }),
      );
    };
    const progress = (): void =>
      this.#options.onProgress?.({ done: replayed + skipped, replayed, skipped, total } satisfies ReplayProgress);

    const dlq = await model.createChannel();
    dlq.on('error', lost(`channel to ${dead}`));
    dlq.on('close', lost(`channel to ${dead}`));
    const confirm = await publishModel.createConfirmChannel();
    confirm.on('error', lost('publishing channel'));
    confirm.on('close', lost('publishing channel'));
    // RabbitMQ sends basic.return before the confirm of the same message.
    confirm.on('return', (message: Message) => {
      const identity = replayOf(message);
      if (identity !== undefined) returned.add(identity);
    });
    const ack = (message: Message): boolean => {
      try {
        dlq.ack(message);
        return true;
      } catch (err) {
        lost(`channel to ${dead}`)(err as Error);
        return false;
      }
    };

    const republish = (message: Message, context: DeadLetterContext): void => {
      const { identity } = context;
      const label = `dead letter ${context.messageId ?? identity} of "${jobType}"`;
      const copy = replayCopy(message, identity);
      let settled = false;
      const settle = (err: Error | null | 'timeout'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        inFlight -= 1;
        if (err === 'timeout') {
          fail(
            (counts) =>
              new PublishTimeoutError(
                `no confirm for the replay of ${label} within ${config.publishTimeoutMs} ms: the outcome is indeterminate ` +
                  `(the copy may still arrive); the dead letter stays in ${dead}${counts}`,
              ),
          );
        } else if (err !== null) {
          fail((counts) =>
            err.message === 'message nacked'
              ? new PublishRejectedError(
                  `RabbitMQ rejected the replay of ${label} (nack: a queue may be at its length limit); the dead letter stays in ${dead}${counts}`,
                )
              : new ConnectionError(
                  `the replay of ${label} was not confirmed: ${err.message}; the dead letter stays in ${dead}${counts}`,
                  { cause: err },
                ),
          );
        } else if (returned.delete(identity)) {
          fail(
            (counts) =>
              new UnroutableError(
                `the replay of ${label} was returned: no queue is bound to ${exchange} for routing key "${routingKey}" ` +
                  `(is a worker for "${jobType}" declared?); the dead letter stays in ${dead}${counts}`,
              ),
          );
        } else {
          confirmed += 1;
          this.#options.afterConfirm?.(confirmed);
          // Acknowledged only now: killed before this line, the ledger tells the next replay it was sent.
          if (ack(message)) {
            replayed += 1;
            done.add(identity);
            progress();
          }
        }
        wake();
      };
      const timer = setTimeout(() => settle('timeout'), config.publishTimeoutMs);
      inFlight += 1;
      try {
        // Flow control is the prefetch: at most maxUnconfirmed dead letters are unacknowledged, so at most that many
        // republishes await their confirm; amqplib buffers the rest of a burst.
        const properties = { ...copy.properties, mandatory: true, BCC: bcc };
        confirm.publish(exchange, routingKey, copy.content, properties, (err: Error | null) => settle(err ?? null));
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)));
      }
    };

    const onDelivery = (message: Message | null): void => {
      if (message === null) {
        fail(
          (counts) =>
            new ConnectionError(`RabbitMQ cancelled the replay's consumer: ${dead} was deleted or moved${counts}`),
        );
        return;
      }
      lastDeliveryAt = Date.now();
      // Past the total, or stopping: left unacknowledged, it returns to the queue when the channel closes.
      if (taken >= total || failure !== undefined || signal?.aborted === true) return;
      taken += 1;
      const context = readDeadLetterContext(message, { deliveryLimit: this.#options.config.deliveryLimit });
      if (ledger.has(context.identity) || sent.has(context.identity)) {
        // Republished by an earlier replay that did not acknowledge it (or a second copy of one dead letter).
        if (ack(message)) {
          skipped += 1;
          done.add(context.identity);
          progress();
        }
      } else {
        sent.add(context.identity);
        republish(message, context);
      }
      wake();
    };

    // Consumed, not fetched one by one: basic.get waits a round trip per dead letter; a prefetch keeps a window
    // of them flowing, and doubles as the bound on unconfirmed republishes.
    const idle = (): boolean => inFlight === 0 && Date.now() - lastDeliveryAt > IDLE_END_MS;
    const ticker = setInterval(wake, 100);
    signal?.addEventListener('abort', wake, { once: true });
    try {
      if (total > 0) {
        await dlq.prefetch(this.#options.maxUnconfirmed ?? DEFAULT_MAX_UNCONFIRMED);
        const { consumerTag } = await dlq.consume(dead, onDelivery, { noAck: false });
        lastDeliveryAt = Date.now();
        // Ends at the total; or early when the queue ran dry (another client took or purged some), or on failure or abort.
        await until(
          () => failure !== undefined || signal?.aborted === true || (taken >= total && inFlight === 0) || idle(),
        );
        // Each in-flight republish ends by its confirm, its channel's close or its publish timeout.
        await until(() => inFlight === 0);
        // basic.cancel is a round trip to the queue: acknowledgements sent before it are applied in practice.
        await dlq.cancel(consumerTag).catch(() => {});
      }
    } finally {
      clearInterval(ticker);
      signal?.removeEventListener('abort', wake);
      ending = true;
      await confirm.close().catch(() => {});
      await dlq.close().catch(() => {});
    }
    return { taken, replayed, skipped, done, failure, interrupted: signal?.aborted === true && taken < total };
  }
}

/** The `x-warren-replay-of` header of a ledger entry or a returned republish. */
function replayOf(message: Message): string | undefined {
  const identity: unknown = message.properties.headers?.[HEADERS.replayOf];
  return typeof identity === 'string' ? identity : undefined;
}
