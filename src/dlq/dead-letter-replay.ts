import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ChannelModel } from 'amqplib';
import { settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { ConfigError } from '../errors/config-error.js';
import { ConnectionError } from '../errors/connection-error.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import {
  deadQueue,
  jobQueue,
  legacyReplayLedgerQueue,
  replayLockQueue,
  replayRoutingKey,
  requeueExchange,
} from '../topology/names.js';
import { DeadLetterAdmin } from './dead-letter-admin.js';
import type { DeadLetterContext } from './dead-letter-context.js';
import type { DeadLetterReplayOptions } from './dead-letter-replay-options.js';
import type { CopyOutcome } from './dead-letter-replay-outcome.js';
import { ReplayPass, type ReplayPassOptions, type ReplayPassResult } from './dead-letter-replay-pass.js';
import { queueStatus } from './queue-status.js';
import { requireDeadLetterQueue } from './require-dead-letter-queue.js';

/** Dead letters a replay holds at once unless told otherwise: also the bound on what a kill can make repeat. */
export const DEFAULT_MAX_UNCONFIRMED = 100;
/** Dead letters a replay by message id looks through unless told otherwise (`scanLimit`). */
export const DEFAULT_SCAN_LIMIT = 1_000;
/** AMQP's largest prefetch count (a 16-bit field): the furthest a replay by message id can look. */
const MAX_SCAN_LIMIT = 65_535;
/** How long to wait for the broker to take back what a closed channel held. */
const SETTLE_WAIT_MS = 10_000;

/** Why a replay stopped before it had taken on all it set out to: the first copy that was not confirmed. */
export interface ReplayFailure {
  /** The `WARREN_ERR_*` code: `…_PUBLISH_REJECTED` (nack), `…_PUBLISH_TIMEOUT`, `…_UNROUTABLE`, `…_CONNECTION`. */
  readonly code: string;
  /** What happened, to which dead letter, and that it stayed in the dead-letter queue. */
  readonly message: string;
}

/** The replay ledger queue an earlier warren version left for the job type (nothing uses it any more). */
export interface LegacyLedger {
  readonly queue: string;
  /** Messages ready in it: copies of dead letters that version replayed. */
  readonly messages: number;
  /** True when this replay deleted it (only an empty one is deleted); always false in a plan. */
  readonly deleted: boolean;
}

/** What a finished replay did. */
export interface ReplaySummary {
  readonly jobType: string;
  /** The job queue the dead letters went back to. */
  readonly queue: string;
  readonly deadLetterQueue: string;
  /** Dead letters the replay set out to take on: its limit, or all that were in the queue when it started. */
  readonly total: number;
  /** Copy confirmed in the job queue, then the dead letter acknowledged (removed). */
  readonly replayed: number;
  /** Copy refused by RabbitMQ (`basic.nack`: a job queue at its length limit); the dead letter stays. */
  readonly rejected: number;
  /** Copy returned, reaching no queue; the dead letter stays. */
  readonly unroutable: number;
  /**
   * Copy not confirmed in time (or its channel closed first, or its dead letter could not be acknowledged): the
   * dead letter stays, and its copy may be in the job queue as well, so the next replay can make it twice.
   */
  readonly indeterminate: number;
  /** Dead letters left in the dead-letter queue afterwards. */
  readonly remaining: number;
  /** True when the replay was stopped by its abort signal before it had taken on `total`. */
  readonly interrupted: boolean;
  /** Set when a copy was not confirmed: the replay stopped there (see {@link ReplayFailure}). */
  readonly failure?: ReplayFailure;
  /** Set when an earlier warren version left a replay ledger queue for the job type. */
  readonly legacyLedger?: LegacyLedger;
  /**
   * With `messageIds`: those no dead letter among the first `scanLimit` carried (replayed by someone else, purged,
   * or further back in the queue), in the order given.
   */
  readonly notFound?: readonly string[];
}

/** One dead letter a dry run found. */
export interface ReplayPlanEntry {
  readonly context: DeadLetterContext;
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
  /** The dead letters a replay would take on, from the head of the queue. */
  readonly entries: readonly ReplayPlanEntry[];
  /** An earlier version's replay ledger: a replay deletes it when it is empty (`deleted` is false here). */
  readonly legacyLedger?: LegacyLedger;
  /** With `messageIds`: those the dry run did not find among the first `scanLimit` dead letters. */
  readonly notFound?: readonly string[];
}

/** What a replay knows once it holds the lock, before it takes a dead letter. */
interface Prepared {
  readonly total: number;
  readonly legacyLedger: LegacyLedger | undefined;
}

/**
 * Moves a job type's dead letters back to its queue. Nothing is lost, whatever stops it: each dead letter is
 * acknowledged only after the broker confirmed its own copy in the job queue.
 *
 * A replay takes the job type's lock (an exclusive queue), checks that the job queue exists, and runs one
 * {@link ReplayPass} over the dead-letter queue: each dead letter is republished as a mandatory, confirmed publish to
 * the requeue exchange with routing key `replay.<jobType>` (bound only to the job's own queue), keeping its message
 * id, and acknowledged after that confirm. A copy refused, returned or not confirmed in time leaves its dead letter
 * in place and stops the replay; the summary counts it and says why.
 *
 * What can repeat: a replay killed, cut off or stopped by a failure can leave dead letters whose copies already
 * reached the job queue, at most `maxUnconfirmed` of them (the dead letters it held), and the next replay sends
 * those again, with the same message id: downstream de-duplication by message id (`idempotent` jobs) runs them once.
 */
export class DeadLetterReplay {
  readonly #options: DeadLetterReplayOptions;
  readonly #queues: {
    readonly dead: string;
    readonly job: string;
    readonly lock: string;
    readonly legacyLedger: string;
  };
  /** The distinct message ids of `messageIds`, in the order given; undefined without them. */
  readonly #messageIds: readonly string[] | undefined;
  #used = false;

  /**
   * @throws ConfigError when `limit`, `maxUnconfirmed` or `scanLimit` is not a positive whole number, or
   *   `messageIds` is not a list of 1 to `maxUnconfirmed` message ids, or comes with `limit`.
   */
  constructor(options: DeadLetterReplayOptions) {
    for (const [name, value] of [
      ['limit', options.limit],
      ['maxUnconfirmed', options.maxUnconfirmed],
      ['scanLimit', options.scanLimit],
    ] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new ConfigError(`${name} must be a whole number, 1 or more; got ${String(value)}`);
      }
    }
    if (options.scanLimit !== undefined && options.scanLimit > MAX_SCAN_LIMIT) {
      throw new ConfigError(`scanLimit must be at most ${MAX_SCAN_LIMIT}; got ${options.scanLimit}`);
    }
    this.#messageIds = checkMessageIds(options);
    this.#options = options;
    const { namespace } = options.config;
    const { jobType } = options;
    this.#queues = {
      dead: deadQueue(namespace, jobType),
      job: jobQueue(namespace, jobType),
      lock: replayLockQueue(namespace, jobType),
      legacyLedger: legacyReplayLedgerQueue(namespace, jobType),
    };
  }

  /**
   * Replays up to `limit` dead letters (default: all present at the start) and resolves with what it did. A copy
   * that is not confirmed stops the replay and is reported in the summary (`failure`), not thrown.
   * @throws ConfigError (no dead-letter queue for the job type), IllegalStateError (another replay of it is
   *   running), UnroutableError (no job queue: nothing was touched), ConnectionError (the connection was lost and
   *   the summary cannot be made; its message has the counts). Running the replay again is always safe.
   */
  async run(): Promise<ReplaySummary> {
    this.#claim();
    const admin = this.#connection('admin');
    const publishing = this.#connection('publish');
    try {
      const model = await this.#start(admin);
      const prepared = await this.#prepare(model);
      const copies = await this.#start(publishing);
      const pass = await ReplayPass.open(model, copies, this.#passOptions(prepared.total, publishing.node));
      return await this.#summarise(model, prepared, await pass.run());
    } finally {
      // Closing the connection also releases the lock (an exclusive queue goes with its connection).
      await publishing.close().catch(() => {});
      await admin.close().catch(() => {});
    }
  }

  /**
   * A dry run: the dead letters a replay would take on, read the way `warren dlq peek` reads them (fetched
   * unacknowledged and given back), whether the job queue exists, and an earlier version's replay ledger.
   * @throws ConfigError when the job type has no dead-letter queue.
   */
  async plan(): Promise<ReplayPlan> {
    this.#claim();
    const { config, logger, jobType, limit, connectTimeoutMs, onConnectRetry } = this.#options;
    const tools = new DeadLetterAdmin({
      config,
      logger,
      ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
      ...(onConnectRetry === undefined ? {} : { onConnectRetry }),
    });
    const admin = this.#connection('admin');
    try {
      await tools.start();
      const deadLetters = await tools.count(jobType);
      const model = await this.#start(admin);
      const queueDeclared = (await queueStatus(model, this.#queues.job)) !== undefined;
      const ledger = await queueStatus(model, this.#queues.legacyLedger);
      const ids = this.#messageIds;
      const scanLimit = this.#options.scanLimit ?? DEFAULT_SCAN_LIMIT;
      const take = Math.min(ids === undefined ? (limit ?? deadLetters) : scanLimit, deadLetters);
      const read = take > 0 ? await tools.peek(jobType, take) : [];
      const contexts = ids === undefined ? read : firstOfEach(read, ids);
      return {
        jobType,
        queue: this.#queues.job,
        deadLetterQueue: this.#queues.dead,
        queueDeclared,
        deadLetters,
        entries: contexts.map((context) => ({ context })),
        ...(ledger === undefined
          ? {}
          : { legacyLedger: { queue: this.#queues.legacyLedger, messages: ledger.messages, deleted: false } }),
        ...(ids === undefined
          ? {}
          : { notFound: ids.filter((id) => !contexts.some((context) => context.messageId === id)) }),
      };
    } finally {
      await tools.close().catch(() => {});
      await admin.close().catch(() => {});
    }
  }

  /** Everything before the first dead letter is taken: nothing here changes a message. */
  async #prepare(model: ChannelModel): Promise<Prepared> {
    const { config, jobType, limit } = this.#options;
    await requireDeadLetterQueue(model, config.namespace, jobType);
    await this.#lock(model);
    await this.#requireJobQueue(model);
    const legacyLedger = await this.#retireLegacyLedger(model);
    const inQueue = (await queueStatus(model, this.#queues.dead))?.messages ?? 0;
    const wanted = this.#messageIds?.length ?? limit ?? inQueue;
    return { total: Math.min(wanted, inQueue), legacyLedger };
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
   * Checked up front so that a missing job queue stops the replay before it touches anything. (A queue deleted
   * later makes the copies come back as returned, and the replay stops at the first.)
   */
  async #requireJobQueue(model: ChannelModel): Promise<void> {
    if ((await queueStatus(model, this.#queues.job)) !== undefined) return;
    const { jobType } = this.#options;
    throw new UnroutableError(
      `cannot replay the dead letters of "${jobType}": its queue ${this.#queues.job} does not exist, so nothing would ` +
        `receive them; start a worker for "${jobType}" (or run \`warren topology --apply\`) and replay again. Nothing was replayed`,
    );
  }

  /**
   * Earlier versions routed a copy of each replayed dead letter to a ledger queue and trusted it on a rerun. Nothing
   * reads or writes it now. An empty one is deleted; one with messages is left for its owner to look at and named in
   * the summary. Safe under the lock: an earlier version's replay of this job type takes the same lock, and nothing
   * else writes to the ledger.
   */
  async #retireLegacyLedger(model: ChannelModel): Promise<LegacyLedger | undefined> {
    const queue = this.#queues.legacyLedger;
    const status = await queueStatus(model, queue);
    if (status === undefined) return undefined;
    if (status.messages > 0 || status.consumers > 0) return { queue, messages: status.messages, deleted: false };
    // Not `ifEmpty`: quorum queues refuse it with a connection error. Checked just above, under the lock.
    await this.#onChannel(model, (channel) => channel.deleteQueue(queue));
    return { queue, messages: 0, deleted: true };
  }

  #passOptions(total: number, node: string | undefined): ReplayPassOptions {
    const { config, jobType, signal, onProgress, afterConfirm, maxUnconfirmed, scanLimit } = this.#options;
    const ids = this.#messageIds;
    return {
      ...(ids === undefined
        ? {}
        : { messageIds: new Set(ids), prefetch: scanLimit ?? DEFAULT_SCAN_LIMIT, bodies: this.#options.bodies }),
      jobType,
      node,
      deadLetterQueue: this.#queues.dead,
      jobQueue: this.#queues.job,
      exchange: requeueExchange(config.namespace),
      routingKey: replayRoutingKey(jobType),
      total,
      maxUnconfirmed: maxUnconfirmed ?? DEFAULT_MAX_UNCONFIRMED,
      publishTimeoutMs: config.publishTimeoutMs,
      deliveryLimit: config.deliveryLimit,
      signal,
      onProgress,
      afterConfirm,
    };
  }

  /**
   * The summary, once the broker has taken back what the pass's closed channel held. Throws only when the
   * connection is gone and the dead-letter queue cannot be counted.
   */
  async #summarise(model: ChannelModel, prepared: Prepared, pass: ReplayPassResult): Promise<ReplaySummary> {
    const { failure, counts } = pass;
    let remaining: number;
    let failureMessage = failure?.message;
    try {
      await this.#releasedByBroker(model);
      remaining = (await queueStatus(model, this.#queues.dead))?.messages ?? 0;
      if (failure !== undefined && codeOf(failure) === 'WARREN_ERR_PUBLISH_REJECTED') {
        const depth = (await queueStatus(model, this.#queues.job))?.messages;
        if (depth !== undefined) failureMessage = `${failure.message}; ${this.#queues.job} holds ${depth} messages`;
      }
    } catch (error) {
      throw new ConnectionError(
        `${failure?.message ?? (error as Error).message}; ${describeCounts(counts)} before the connection was lost. ` +
          `Nothing was lost: a dead letter is removed only after its copy is confirmed. Running the replay again is ` +
          `safe; it sends again the dead letters whose copies were not confirmed`,
        { cause: failure ?? error },
      );
    }
    return {
      jobType: this.#options.jobType,
      queue: this.#queues.job,
      deadLetterQueue: this.#queues.dead,
      total: prepared.total,
      ...counts,
      remaining,
      interrupted: pass.interrupted,
      ...(failure === undefined ? {} : { failure: { code: codeOf(failure), message: failureMessage ?? '' } }),
      ...(prepared.legacyLedger === undefined ? {} : { legacyLedger: prepared.legacyLedger }),
      ...(this.#messageIds === undefined ? {} : { notFound: this.#notFound(pass.notFound) }),
    };
  }

  /**
   * Waits until the broker has taken back what the closed consuming channel held: the dead-letter queue has no
   * consumer left. Only then are the dead letters the pass did not acknowledge counted as ready again.
   */
  async #releasedByBroker(model: ChannelModel): Promise<void> {
    const deadline = Date.now() + SETTLE_WAIT_MS;
    for (;;) {
      const status = await queueStatus(model, this.#queues.dead);
      if (status === undefined || status.consumers === 0) return;
      if (Date.now() > deadline) {
        this.#options.logger.warn(
          { queue: this.#queues.dead, consumers: status.consumers },
          'another client consumes the dead-letter queue; the dead letters it holds are not counted as remaining',
        );
        return;
      }
      await sleep(50);
    }
  }

  /** The ids a pass did not find; all of them when it did not run (no dead letters to look through). */
  #notFound(fromPass: readonly string[] | undefined): readonly string[] {
    return fromPass ?? this.#messageIds ?? [];
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

  /** Runs `work` on a channel of its own, closed afterwards. */
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
}

/**
 * The distinct message ids of a replay by id, checked: 1 to `maxUnconfirmed` non-empty strings, without `limit`.
 * @throws ConfigError
 */
function checkMessageIds(options: DeadLetterReplayOptions): readonly string[] | undefined {
  const { messageIds, limit } = options;
  if (messageIds === undefined) {
    if (options.bodies !== undefined) throw new ConfigError('bodies needs messageIds: the dead letters to edit');
    return undefined;
  }
  const most = options.maxUnconfirmed ?? DEFAULT_MAX_UNCONFIRMED;
  if (!Array.isArray(messageIds) || messageIds.some((id) => typeof id !== 'string' || id === '')) {
    throw new ConfigError('messageIds must be a list of message ids (non-empty strings)');
  }
  const ids: readonly string[] = [...new Set<string>(messageIds)];
  if (ids.length === 0 || ids.length > most) {
    throw new ConfigError(
      `messageIds must name 1 to ${most} message ids (maxUnconfirmed: what a cut-off replay can repeat); got ${ids.length}`,
    );
  }
  if (limit !== undefined) throw new ConfigError('limit and messageIds cannot be given together');
  for (const id of options.bodies?.keys() ?? []) {
    if (!ids.includes(id)) throw new ConfigError(`bodies names ${JSON.stringify(id)}, which messageIds does not`);
  }
  return ids;
}

/** Of each id, the first context carrying it, in queue order. */
function firstOfEach(contexts: readonly DeadLetterContext[], ids: readonly string[]): DeadLetterContext[] {
  const wanted = new Set(ids);
  return contexts.filter((context) => context.messageId !== undefined && wanted.delete(context.messageId));
}

/** A failure's `WARREN_ERR_*` code; anything else that stopped a pass counts as a connection failure. */
function codeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('WARREN_ERR_') ? code : 'WARREN_ERR_CONNECTION';
}

/** `40 replayed, 1 refused` */
function describeCounts(counts: Readonly<Record<CopyOutcome, number>>): string {
  const parts = [`${counts.replayed} replayed`];
  if (counts.rejected > 0) parts.push(`${counts.rejected} refused`);
  if (counts.unroutable > 0) parts.push(`${counts.unroutable} returned`);
  if (counts.indeterminate > 0) parts.push(`${counts.indeterminate} unconfirmed`);
  return parts.join(', ');
}
