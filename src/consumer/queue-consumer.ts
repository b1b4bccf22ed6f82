import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { BrokerConnection } from '../connection/broker-connection.js';
import { ManagedChannel } from '../connection/managed-channel.js';
import { LazyAbort } from './lazy-abort.js';
import { isThenable, withTimeout } from './run-with-timeout.js';
import { DeliveryContext } from './delivery-context.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import { decodeBody } from '../messages/decode.js';
import { failureHeaders, toError } from '../messages/failure-headers.js';
import { DEAD_LETTER_REASONS, HEADERS, type DeadLetterReason } from '../messages/headers.js';
import { DEFAULT_CONCURRENCY, type JobDefinition } from '../registry/job-definition.js';
import { validatePayload, type Validated } from '../registry/validate-payload.js';
import { decide } from '../retry/decide.js';
import { resolveRetryPolicy, type RetryPolicy } from '../retry/retry-policy.js';
import { declareTopology, type DeclaredTopology } from '../topology/declare-topology.js';
import {
  jobTopology,
  legacyDeadLetterQueueWarning,
  type TopologyPlan,
  type TopologySettings,
} from '../topology/topology-plan.js';
import { deadExchange, jobQueue, retryExchange, retryRoutingKey } from '../topology/names.js';
import type { WarrenConfig } from '../config/config-options.js';
import type { Publisher } from '../publisher/publisher.js';
import type { DedupStore } from '../dedup/dedup-store.js';
import type { ProcessOutcome, WarrenMetrics } from '../metrics/warren-metrics.js';
import { hasCode } from '../errors/warren-error.js';
import { tierName } from '../topology/names.js';

/** Options of a {@link QueueConsumer}. */
export interface QueueConsumerOptions {
  readonly settings: TopologySettings & Pick<WarrenConfig, 'maxAttempts' | 'retryTiersMs'>;
  /** Confirmed publishing for dead-letter copies (on the publishing connection). */
  readonly publisher: Publisher;
  /** Timeout of jobs that set none. */
  readonly jobTimeoutMs: number;
  readonly logger: Logger;
  /** Metrics to record into; none when absent. */
  readonly metrics?: WarrenMetrics | undefined;
  /** De-duplication by message id, for scheduled jobs and `idempotent` ones; absent without Redis. */
  readonly dedup?: DedupStore | undefined;
  /** Told of every settled delivery, for metrics and tests. */
  readonly onOutcome?: (outcome: DeliveryOutcome, jobType: string) => void;
}

/** How a delivery ended. */
export type DeliveryOutcome = 'success' | 'retry' | 'dead' | 'invalid' | 'duplicate' | 'requeued' | 'stale';

/** Metric children bound to this queue's labels once, off the hot path. */
interface BoundMetrics {
  readonly metrics: WarrenMetrics;
  readonly inFlight: ReturnType<WarrenMetrics['inFlight']['labels']>;
  readonly duration: ReturnType<WarrenMetrics['duration']['labels']>;
  readonly wait: ReturnType<WarrenMetrics['wait']['labels']>;
  readonly stale: ReturnType<WarrenMetrics['staleSettles']['labels']>;
  readonly processed: Record<ProcessOutcome, ReturnType<WarrenMetrics['processed']['labels']>>;
}

const COUNTED: ReadonlySet<DeliveryOutcome> = new Set<DeliveryOutcome>([
  'success',
  'retry',
  'dead',
  'invalid',
  'duplicate',
]);

/** How long a consumer channel stays open after its last settle when it closes (see `QueueConsumer#close`). */
const SETTLE_FLUSH_MS = 250;

/** The AMQP properties a retry or dead-letter copy keeps from the original delivery. */
interface CopiedProperties {
  readonly type?: string;
  readonly timestamp?: number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly correlationId?: string;
  readonly appId?: string;
}

/**
 * Consumes one job queue on its own channel, with prefetch = the job's concurrency. Each delivery is settled
 * only on the channel it arrived on: after that channel closed, a late settle is dropped and counted (an ack on
 * a newer channel would be a `406 unknown delivery tag` that closes it again and re-runs every in-flight job).
 */
export class QueueConsumer {
  readonly job: JobDefinition;
  readonly queue: string;
  readonly concurrency: number;
  readonly retryPolicy: RetryPolicy;
  readonly #topology: TopologyPlan;
  readonly #connection: BrokerConnection;
  /** Legacy queues already warned of: once per process, not on every reconnect. */
  readonly #warnedLegacy = new Set<string>();
  readonly #options: QueueConsumerOptions;
  readonly #logger: Logger;
  readonly #channel: ManagedChannel<Channel>;
  readonly #inFlight = new Set<LazyAbort>();
  readonly #consumerTags = new WeakMap<Channel, string>();
  /** Channels that are open and set up: a settle is sent only on the live channel its delivery came on. */
  readonly #live = new WeakSet<Channel>();
  readonly #metrics: BoundMetrics | undefined;
  #consuming = false;
  #draining = false;
  #staleSettles = 0;
  /** When this consumer last acked or rejected a delivery (ms since the epoch). */
  #lastSettleAt = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(connection: BrokerConnection, job: JobDefinition, options: QueueConsumerOptions) {
    this.job = job;
    this.#connection = connection;
    this.#options = options;
    this.queue = jobQueue(options.settings.namespace, job.jobType);
    this.concurrency = job.concurrency ?? DEFAULT_CONCURRENCY;
    this.retryPolicy = resolveRetryPolicy(job.jobType, job.retry, options.settings);
    this.#topology = jobTopology(options.settings, job.jobType, this.retryPolicy.tiersMs);
    const { metrics } = options;
    if (metrics) {
      const processed = (outcome: ProcessOutcome) => metrics.processed.labels(this.queue, job.jobType, outcome);
      this.#metrics = {
        metrics,
        inFlight: metrics.inFlight.labels(this.queue),
        duration: metrics.duration.labels(job.jobType),
        wait: metrics.wait.labels(job.jobType),
        stale: metrics.staleSettles.labels(this.queue),
        processed: {
          success: processed('success'),
          retry: processed('retry'),
          dead: processed('dead'),
          invalid: processed('invalid'),
          timeout: processed('timeout'),
          duplicate: processed('duplicate'),
        },
      };
      this.#metrics.inFlight.set(0);
      // Series exist from the start at 0, so rate() and increase() see the first event too.
      for (const child of Object.values(this.#metrics.processed)) child.inc(0);
      this.#metrics.stale.inc(0);
      for (const delayMs of this.retryPolicy.tiersMs) metrics.retries.labels(job.jobType, tierName(delayMs)).inc(0);
      for (const reason of DEAD_LETTER_REASONS) metrics.deadLetters.labels(job.jobType, reason).inc(0);
    }
    this.#logger = options.logger.child({ component: 'consumer', queue: this.queue });
    this.#channel = new ManagedChannel<Channel>(connection, {
      name: `consume ${this.queue}`,
      confirm: false,
      logger: this.#logger,
      setup: async (channel, model) => {
        this.#warnOfLegacyQueues(await declareTopology(channel, this.#topology, model));
        await channel.prefetch(this.concurrency);
        // Live before consuming: deliveries can arrive (and a sync handler settle them) before setup resolves.
        this.#live.add(channel);
        if (!this.#draining) await this.#subscribe(channel);
      },
      onClose: (channel) => {
        this.#live.delete(channel);
        this.#consuming = false;
      },
    });
  }

  /** True while a consumer is attached to the queue. */
  get consuming(): boolean {
    return this.#consuming && this.#channel.current !== undefined;
  }

  /** Deliveries being handled now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Settles dropped because their channel had closed. */
  get staleSettles(): number {
    return this.#staleSettles;
  }

  /** Declares the queue and starts consuming; rejects when the first setup fails (e.g. conflicting arguments). */
  async start(): Promise<void> {
    await this.#channel.start();
  }

  async #subscribe(channel: Channel): Promise<void> {
    const { consumerTag } = await channel.consume(this.queue, (message) => {
      if (message === null) this.#onServerCancel(channel);
      else this.#onDelivery(channel, message);
    });
    this.#consumerTags.set(channel, consumerTag);
    this.#consuming = true;
  }

  /** RabbitMQ cancelled the consumer (queue deleted, failover): declare again and re-subscribe, never go silent. */
  #onServerCancel(channel: Channel): void {
    this.#consuming = false;
    this.#logger.warn('RabbitMQ cancelled the consumer (queue deleted or moved); re-subscribing');
    const attempt = async (delayMs: number): Promise<void> => {
      if (this.#draining || !this.#live.has(channel)) return;
      try {
        this.#warnOfLegacyQueues(await declareTopology(channel, this.#topology, this.#connection.manager.connection));
        await this.#subscribe(channel);
        this.#logger.info('re-subscribed after a server-sent cancel');
      } catch (err) {
        this.#logger.error({ err }, 're-subscribe failed; trying again');
        setTimeout(() => void attempt(Math.min(delayMs * 2, 30_000)), delayMs);
      }
    };
    void attempt(500);
  }

  /** A dead-letter queue declared by an earlier warren works as it is; say once what it risks and how to fix it. */
  #warnOfLegacyQueues({ legacyQueues }: DeclaredTopology): void {
    for (const { name } of legacyQueues) {
      if (this.#warnedLegacy.has(name)) continue;
      this.#warnedLegacy.add(name);
      this.#logger.warn(
        { deadLetterQueue: name },
        legacyDeadLetterQueueWarning(name, this.#options.settings.namespace),
      );
    }
  }

  #onDelivery(channel: Channel, message: ConsumeMessage): void {
    const controller = new LazyAbort();
    this.#inFlight.add(controller);
    this.#metrics?.inFlight.inc();
    let pending: Promise<void> | undefined;
    try {
      pending = this.#handle(channel, message, controller);
    } catch (err) {
      // #handle settles every outcome itself; reaching here is a bug, and the delivery returns on channel close.
      this.#logger.error({ err }, 'unexpected error while handling a delivery');
    }
    if (pending === undefined) this.#finished(controller);
    else {
      pending.then(
        () => this.#finished(controller),
        (err: unknown) => {
          this.#logger.error({ err }, 'unexpected error while handling a delivery');
          this.#finished(controller);
        },
      );
    }
  }

  /** Keeps the in-flight books when a delivery is done with. */
  #finished(controller: LazyAbort): void {
    this.#metrics?.inFlight.dec();
    this.#inFlight.delete(controller);
    if (this.#inFlight.size === 0 && this.#idleWaiters.length > 0)
      for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /**
   * Handles one delivery and settles it. A job whose schema and handler answer synchronously is checked, run and
   * acked without a promise; a promise is made only where something is awaited (an async schema or handler,
   * de-duplication, a confirmed retry or dead-letter copy).
   */
  #handle(channel: Channel, message: ConsumeMessage, controller: LazyAbort): Promise<void> | undefined {
    const { jobType } = this.job;
    const { properties } = message;
    const headers = (properties.headers ?? {}) as Record<string, unknown>;
    const hasId = typeof properties.messageId === 'string' && properties.messageId !== '';
    const jobId = hasId ? (properties.messageId as string) : randomUUID();
    const attempt = attemptOf(headers);

    const { routingKey } = message.fields;
    if (routingKey !== jobType && !routingKey.endsWith(`.${jobType}`)) {
      // Bound here by hand with another routing key: this queue's handler is not the one it was meant for.
      const error = new Error(`routing key "${routingKey}" is not job type "${jobType}" of queue ${this.queue}`);
      error.name = 'UnknownJobType';
      this.#logger.warn({ jobId, routingKey }, 'message for another job type; dead-lettering');
      return this.#forward(channel, message, jobId, attempt, 'unknown_job_type', error);
    }

    const decoded = decodeBody(message);
    if (!decoded.ok) return this.#invalid(channel, message, jobId, attempt, decoded.error);
    const ctx = new DeliveryContext(jobId, jobType, attempt, headers, controller, this.#logger);
    const { schema } = this.job;
    if (schema === undefined) return this.#accepted(channel, message, ctx, hasId, decoded.payload);
    let validated: Validated | Promise<Validated>;
    try {
      validated = validatePayload(schema, decoded.payload, jobType);
    } catch (thrown) {
      return this.#schemaFailed(channel, message, ctx, thrown);
    }
    // A schema that answers synchronously keeps the delivery synchronous; only an async one costs a promise.
    if (validated instanceof Promise) return this.#awaitValidation(channel, message, ctx, hasId, validated);
    return this.#validated(channel, message, ctx, hasId, validated);
  }

  async #awaitValidation(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    pending: Promise<Validated>,
  ): Promise<void> {
    let validated: Validated;
    // The job's timeout covers its schema too: a check that never answers must not hold a prefetch slot forever.
    const timeoutMs = this.job.timeoutMs ?? this.#options.jobTimeoutMs;
    try {
      validated = await withTimeout(
        pending,
        timeoutMs,
        () =>
          new JobTimeoutError(
            `job "${ctx.jobType}" ${ctx.jobId}: its payload schema did not answer within its timeout of ${timeoutMs} ms`,
          ),
      );
    } catch (thrown) {
      return this.#schemaFailed(channel, message, ctx, thrown);
    }
    return this.#validated(channel, message, ctx, hasId, validated);
  }

  #validated(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    validated: Validated,
  ): Promise<void> | undefined {
    if (validated.ok) return this.#accepted(channel, message, ctx, hasId, validated.data);
    return this.#invalid(channel, message, ctx.jobId, ctx.attempt, validated.message);
  }

  /** The payload is valid: run the handler, unless de-duplication finds the job already done. */
  #accepted(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    payload: unknown,
  ): Promise<void> | undefined {
    const dedup =
      hasId && (this.job.idempotent || ctx.headers[HEADERS.schedule] !== undefined) ? this.#options.dedup : undefined;
    if (dedup) return this.#runUnlessDone(channel, message, ctx, payload, dedup);
    return this.#run(channel, message, ctx, payload, undefined);
  }

  /** Undecodable, or rejected by the schema: dead-lettered at once, the handler never runs. */
  #invalid(channel: Channel, message: ConsumeMessage, jobId: string, attempt: number, reason: string): Promise<void> {
    const error = new Error(reason);
    error.name = 'InvalidPayload';
    this.#logger.warn(
      { jobId, jobType: this.job.jobType, reason },
      'invalid payload; dead-lettering without running the handler',
    );
    return this.#forward(channel, message, jobId, attempt, 'invalid_payload', error);
  }

  /**
   * The schema itself threw or rejected (a refinement that crashed, an async check whose lookup failed): not a
   * verdict on the payload, so the attempt fails as a handler's would (retried by the job's policy), and the
   * handler does not run. What it threw is passed on as it is: a `NonRetryableError` from a refinement dead-letters.
   */
  #schemaFailed(channel: Channel, message: ConsumeMessage, ctx: DeliveryContext, thrown: unknown): Promise<void> {
    this.#logger.warn({ err: thrown, jobId: ctx.jobId, jobType: ctx.jobType }, 'the payload schema threw');
    return this.#failed(channel, message, ctx, thrown);
  }

  async #runUnlessDone(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    payload: unknown,
    dedup: DedupStore,
  ): Promise<void> {
    if (await this.#alreadyDone(dedup, ctx.jobId)) {
      this.#settle(channel, message, 'ack', 'duplicate');
      return;
    }
    await this.#run(channel, message, ctx, payload, dedup);
  }

  /** Runs the handler; synchronous all the way to the ack when the handler is and there is no de-duplication. */
  #run(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    payload: unknown,
    dedup: DedupStore | undefined,
  ): Promise<void> | undefined {
    const started = performance.now();
    const { timestamp } = message.properties as { timestamp?: unknown };
    if (this.#metrics && typeof timestamp === 'number')
      this.#metrics.wait.observe(Math.max(0, Date.now() / 1000 - timestamp));
    let result: unknown;
    try {
      result = this.job.handler(payload, ctx);
    } catch (thrown) {
      return this.#threw(channel, message, ctx, started, thrown);
    }
    if (isThenable(result)) return this.#awaitHandler(channel, message, ctx, result, started, dedup);
    return this.#succeeded(channel, message, ctx, started, dedup);
  }

  /** The handler succeeded: its duration is recorded, then the job is acked (recorded for de-duplication first). */
  #succeeded(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    started: number,
    dedup: DedupStore | undefined,
  ): Promise<void> | undefined {
    this.#metrics?.duration.observe((performance.now() - started) / 1000);
    if (dedup) return this.#markDoneThenAck(channel, message, ctx, dedup);
    this.#settle(channel, message, 'ack', 'success');
    return undefined;
  }

  /** The handler threw, rejected or timed out: its duration is recorded, then {@link #failed} decides. */
  #threw(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    started: number,
    thrown: unknown,
  ): Promise<void> {
    this.#metrics?.duration.observe((performance.now() - started) / 1000);
    return this.#failed(channel, message, ctx, thrown);
  }

  async #awaitHandler(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    result: PromiseLike<unknown>,
    started: number,
    dedup: DedupStore | undefined,
  ): Promise<void> {
    const timeoutMs = this.job.timeoutMs ?? this.#options.jobTimeoutMs;
    try {
      await withTimeout(result, timeoutMs, () => {
        const error = new JobTimeoutError(`job "${ctx.jobType}" ${ctx.jobId} ran past its timeout of ${timeoutMs} ms`);
        ctx.abort(error);
        return error;
      });
    } catch (thrown) {
      return this.#threw(channel, message, ctx, started, thrown);
    }
    return this.#succeeded(channel, message, ctx, started, dedup);
  }

  /** Acks a success, recorded for de-duplication first. */
  async #markDoneThenAck(
    channel: Channel,
    message: ConsumeMessage,
    ctx: DeliveryContext,
    dedup: DedupStore,
  ): Promise<void> {
    // Recorded before the ack: a crash in between makes the redelivery a recognised duplicate, not a second run.
    await dedup
      .markDone(ctx.jobType, ctx.jobId)
      .catch((err: unknown) =>
        this.#logger.warn({ err, jobId: ctx.jobId }, 'could not record the job as done for de-duplication'),
      );
    this.#settle(channel, message, 'ack', 'success');
  }

  /** The handler threw or timed out: retry, dead-letter, or (aborted by shutdown) give the job back. */
  async #failed(channel: Channel, message: ConsumeMessage, ctx: DeliveryContext, thrown: unknown): Promise<void> {
    const { jobId, jobType, attempt } = ctx;
    if (this.#draining && ctx.aborted && !(ctx.abortReason instanceof JobTimeoutError)) {
      // Aborted by shutdown, not by its own failure: give it back to the queue untouched.
      this.#settle(channel, message, 'requeue', 'requeued');
      return;
    }
    const error = toError(thrown);
    const outcome = decide(error, attempt, this.retryPolicy);
    const countAs = hasCode(error, 'WARREN_ERR_JOB_TIMEOUT') ? 'timeout' : undefined;
    const logger = ctx.loggerIfBuilt;
    if (outcome.kind === 'retry') {
      logger.warn({ err: error, jobId, jobType, attempt, retryInMs: outcome.delayMs }, 'job failed; retrying');
      await this.#forward(channel, message, jobId, attempt, 'retry', error, outcome.delayMs, countAs);
    } else {
      logger.warn({ err: error, jobId, jobType, attempt, reason: outcome.reason }, 'job failed; dead-lettering');
      await this.#forward(channel, message, jobId, attempt, outcome.reason, error, 0, countAs);
    }
  }

  /** Whether a job already succeeded; when Redis cannot tell, run it (delivery stays at least once). */
  async #alreadyDone(dedup: DedupStore, jobId: string): Promise<boolean> {
    try {
      const done = await dedup.isDone(this.job.jobType, jobId);
      if (done)
        this.#logger.info(
          { jobId, jobType: this.job.jobType },
          'duplicate of a job that already succeeded; acked without running',
        );
      return done;
    } catch (err) {
      this.#logger.warn({ err, jobId }, 'de-duplication unavailable (Redis); running the job');
      return false;
    }
  }

  /**
   * Copies the message to its retry tier or dead-letter queue with the error context, confirmed, and only then
   * acks the original. A crash between the two may duplicate the job, never lose it.
   */
  async #forward(
    channel: Channel,
    message: ConsumeMessage,
    jobId: string,
    attempt: number,
    outcome: 'retry' | DeadLetterReason,
    error: Error,
    delayMs = 0,
    countAs?: ProcessOutcome,
  ): Promise<void> {
    const { namespace } = this.#options.settings;
    const { jobType } = this.job;
    const [exchange, routingKey] =
      outcome === 'retry'
        ? [retryExchange(namespace), retryRoutingKey(delayMs, jobType)]
        : [deadExchange(namespace), jobType];
    const headers = failureHeaders({
      outcome,
      error,
      attempt,
      queue: this.queue,
      routingKey: message.fields.routingKey,
      previous: message.properties.headers,
      now: new Date(),
    });
    // amqplib types these properties as `any`; they are copied through unchanged.
    const properties = message.properties as CopiedProperties;
    try {
      await this.#options.publisher.send(exchange, routingKey, message.content, {
        messageId: jobId,
        type: properties.type ?? this.job.jobType,
        timestamp: properties.timestamp,
        contentType: properties.contentType,
        contentEncoding: properties.contentEncoding,
        correlationId: properties.correlationId,
        appId: properties.appId,
        persistent: true,
        mandatory: true,
        headers,
      });
    } catch (publishError) {
      // Not confirmed: keep the original. Reject-with-requeue counts toward the delivery limit, so a tier or
      // dead-letter queue that stays unreachable ends in the broker's own dead-lettering, not a hot loop forever.
      this.#logger.error({ err: publishError, jobId, outcome }, 'copy not confirmed; returning the job to its queue');
      this.#settle(channel, message, 'requeue', 'requeued');
      return;
    }
    if (this.#metrics) {
      if (outcome === 'retry') this.#metrics.metrics.retries.labels(jobType, tierName(delayMs)).inc();
      else this.#metrics.metrics.deadLetters.labels(jobType, outcome).inc();
    }
    this.#settle(
      channel,
      message,
      'ack',
      outcome === 'retry' ? 'retry' : outcome === 'invalid_payload' ? 'invalid' : 'dead',
      countAs,
    );
  }

  #settle(
    channel: Channel,
    message: ConsumeMessage,
    how: 'ack' | 'requeue',
    outcome: DeliveryOutcome,
    countAs?: ProcessOutcome,
  ): void {
    if (!this.#live.has(channel)) {
      this.#staleSettles += 1;
      this.#metrics?.stale.inc();
      this.#logger.debug(
        { deliveryTag: message.fields.deliveryTag },
        'dropped a settle for a closed channel; the broker redelivers it',
      );
      this.#options.onOutcome?.('stale', this.job.jobType);
      return;
    }
    this.#lastSettleAt = Date.now();
    try {
      if (how === 'ack') channel.ack(message);
      else channel.reject(message, true);
    } catch (err) {
      // The channel closed between the check and the call.
      this.#staleSettles += 1;
      this.#metrics?.stale.inc();
      this.#logger.debug({ err }, 'settle failed on a closing channel');
      this.#options.onOutcome?.('stale', this.job.jobType);
      return;
    }
    if (this.#metrics && COUNTED.has(outcome)) this.#metrics.processed[countAs ?? (outcome as ProcessOutcome)].inc();
    this.#options.onOutcome?.(outcome, this.job.jobType);
  }

  /** Stops taking deliveries (cancels the consumer, keeps the channel: settles must go on it). */
  async stopConsuming(): Promise<void> {
    this.#draining = true;
    this.#consuming = false;
    const channel = this.#channel.current;
    const tag = channel ? this.#consumerTags.get(channel) : undefined;
    if (channel && tag) await channel.cancel(tag).catch((err: unknown) => this.#logger.warn({ err }, 'cancel failed'));
  }

  /**
   * Waits for in-flight handlers up to `graceMs`, then aborts their signals and waits `abortWaitMs` more.
   * Resolves with how many were still running at the end (their deliveries return to the queue on close).
   */
  async drain(graceMs: number, abortWaitMs: number): Promise<number> {
    if (!(await this.#waitIdle(graceMs))) {
      this.#logger.warn({ inFlight: this.#inFlight.size }, 'shutdown grace time is over; aborting in-flight jobs');
      for (const controller of this.#inFlight) controller.abort(new Error('worker is shutting down'));
      await this.#waitIdle(abortWaitMs);
    }
    return this.#inFlight.size;
  }

  #waitIdle(ms: number): Promise<boolean> {
    if (this.#inFlight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Closes the channel; unsettled deliveries return to the queue. */
  async close(): Promise<void> {
    this.#draining = true;
    // A channel keeps at most 32 unapplied settle commands in flight to a quorum queue; beyond that it stashes
    // settles until the queue applies earlier ones, and closing the channel drops the stash: of 200 acks sent
    // together at the end of a drain, 167 were lost (RabbitMQ 3.10 and 4.0) and those jobs ran again. The stash
    // leaves with the queue's next commit, so wait until the last settle is SETTLE_FLUSH_MS old; then a basic.qos
    // round trip makes sure the channel has handled every frame before it (a passive queue.declare does not).
    // A handler aborted at the end of the grace time may still settle meanwhile: wait again, a few times at most.
    const latest = Date.now() + 4 * SETTLE_FLUSH_MS;
    for (;;) {
      const quietMs = Math.min(SETTLE_FLUSH_MS - (Date.now() - this.#lastSettleAt), latest - Date.now());
      if (quietMs <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
    await this.#channel.current?.prefetch(this.concurrency).catch(() => {});
    await this.#channel.close();
  }
}

/** The attempt number of a delivery: warren's header (1 when absent) plus the broker's redelivery count. */
export function attemptOf(headers: Readonly<Record<string, unknown>>): number {
  const base = Number(headers[HEADERS.attempt] ?? 1);
  const redeliveries = Number(headers['x-delivery-count'] ?? 0);
  return (
    (Number.isInteger(base) && base > 0 ? base : 1) +
    (Number.isInteger(redeliveries) && redeliveries > 0 ? redeliveries : 0)
  );
}
