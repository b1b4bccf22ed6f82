import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { BrokerConnection } from '../connection/broker-connection.js';
import { ManagedChannel } from '../connection/managed-channel.js';
import { LazyAbort } from './lazy-abort.js';
import type { ChildJob } from './child-jobs.js';
import type { JobEvents } from './job-events.js';
import type { JobMiddleware } from '../registry/job-definition.js';
import type { DeliveryContext } from './delivery-context.js';
import { DeliveryRunner, identifyDelivery, type DeliveryIdentity } from './delivery-runner.js';
import { VerdictApplier, type BoundMetrics, type DeliveryOutcome } from './verdict-applier.js';
import { DEFER, GIVE_BACK, isSuspect, returnedTooOften, type Verdict } from './verdict.js';
import { SuspectGate } from './suspect-gate.js';
import { DEAD_LETTER_REASONS } from '../messages/headers.js';
import { DEFAULT_CONCURRENCY, prefetchOf, type JobDefinition } from '../registry/job-definition.js';
import { resolveRetryPolicy, type RetryPolicy } from '../retry/retry-policy.js';
import { declareTopology, type DeclaredTopology } from '../topology/declare-topology.js';
import {
  consumerTimeoutMs,
  jobTopology,
  legacyDeadLetterQueueWarning,
  type TopologyPlan,
  type TopologySettings,
} from '../topology/topology-plan.js';
import { jobQueue, tierName } from '../topology/names.js';
import type { WarrenConfig } from '../config/config-options.js';
import type { Publisher } from '../publisher/publisher.js';
import type { DedupStore } from '../dedup/dedup-store.js';
import type { ProcessOutcome, WarrenMetrics } from '../metrics/warren-metrics.js';
import { startProcessSpan } from '../tracing/process-span.js';

export type { DeliveryOutcome } from './verdict-applier.js';

/** Options of a {@link QueueConsumer}. */
export interface QueueConsumerOptions {
  readonly settings: TopologySettings & Pick<WarrenConfig, 'maxAttempts' | 'retryTiersMs'>;
  /** Confirmed publishing for retry, dead-letter and deferred copies (on the publishing connection). */
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
  /** The worker's middleware, read at the first delivery. */
  readonly middleware?: () => readonly JobMiddleware[];
  /** The worker's lifecycle events. */
  readonly events?: JobEvents;
  /** Publishes a child job (`ctx.publish`) once its parent succeeded, confirmed; resolves with its message id. */
  readonly publishChild: (child: ChildJob) => Promise<string>;
}

/** How long after its last settle a channel's settles have surely left it (see `QueueConsumer#flushSettles`). */
const SETTLE_FLUSH_MS = 250;

/** A suspect waiting to run alone. */
interface HeldSuspect {
  readonly message: ConsumeMessage;
  readonly id: DeliveryIdentity;
}

/** A delivery the prefetch brought beyond the concurrency: it waits, unacknowledged, for a free slot. */
interface Waiting {
  readonly channel: Channel;
  readonly message: ConsumeMessage;
  readonly id: DeliveryIdentity;
}

/**
 * Consumes one job queue on its own channel. A job's prefetch above its concurrency brings more deliveries than run
 * at once: those beyond the concurrency wait here, in arrival order, for a free slot, so a slot that frees takes the
 * next job at once instead of a broker round trip later. Each delivery is run to a
 * {@link Verdict} by the {@link DeliveryRunner} (no channel in sight) and the verdict is applied by the
 * {@link VerdictApplier} on the channel the delivery came on.
 *
 * Suspects (deliveries handed back after a crash or a lost channel) run alone: a crash hands back every
 * unacknowledged delivery of the process and the broker counts each toward the delivery limit, so a job that kills
 * its worker would otherwise take the jobs beside it to the dead-letter queue. The {@link SuspectGate} decides when
 * a suspect may run; this class does what it says (cancel, defer, run, resume) on the channel.
 */
export class QueueConsumer {
  readonly job: JobDefinition;
  readonly queue: string;
  readonly concurrency: number;
  /** The channel's prefetch: deliveries held unacknowledged at once, running or waiting for a slot. */
  readonly prefetch: number;
  readonly retryPolicy: RetryPolicy;
  readonly #topology: TopologyPlan;
  readonly #connection: BrokerConnection;
  readonly #namespace: string;
  /** Legacy queues already warned of: once per process, not on every reconnect. */
  readonly #warnedLegacy = new Set<string>();
  readonly #logger: Logger;
  readonly #channel: ManagedChannel<Channel>;
  readonly #runner: DeliveryRunner;
  readonly #applier: VerdictApplier<Channel>;
  readonly #consumerTimeoutMs: number;
  /** The job queue's delivery limit (quorum queues; classic ones have none). */
  readonly #deliveryLimit: number | undefined;
  /** Every delivery being handled (run, copied, recorded) and not yet settled; held suspects are not among them. */
  readonly #inFlight = new Set<LazyAbort>();
  /** Handler runs taking a slot of the concurrency (suspects run alone, outside them). */
  #running = 0;
  /** Deliveries waiting for a slot, oldest first; unacknowledged, so the gate counts them as in flight. */
  #waiting: Waiting[] = [];
  readonly #consumerTags = new WeakMap<Channel, string>();
  /** Channels that are open and set up: a settle is sent only on the live channel its delivery came on. */
  readonly #live = new WeakSet<Channel>();
  #consuming = false;
  #draining = false;
  /** When suspects may run, on the current channel. */
  readonly #gate = new SuspectGate<HeldSuspect>();
  /** The channel the gate's state belongs to. */
  #gateChannel: Channel | undefined;
  #idleWaiters: Array<() => void> = [];

  constructor(connection: BrokerConnection, job: JobDefinition, options: QueueConsumerOptions) {
    this.job = job;
    this.#connection = connection;
    const { namespace } = options.settings;
    this.#namespace = namespace;
    this.queue = jobQueue(namespace, job.jobType);
    this.concurrency = job.concurrency ?? DEFAULT_CONCURRENCY;
    this.prefetch = prefetchOf(job);
    this.retryPolicy = resolveRetryPolicy(job.jobType, job.retry, options.settings);
    const timeoutMs = job.timeoutMs ?? options.jobTimeoutMs;
    this.#topology = jobTopology(options.settings, job.jobType, this.retryPolicy.tiersMs, timeoutMs);
    this.#consumerTimeoutMs = consumerTimeoutMs(timeoutMs);
    this.#deliveryLimit = options.settings.queueType === 'quorum' ? options.settings.deliveryLimit : undefined;
    this.#logger = options.logger.child({ component: 'consumer', queue: this.queue });
    const bound = options.metrics ? bindMetrics(options.metrics, this.queue, job.jobType, this.retryPolicy) : undefined;
    options.metrics?.watchInFlight(this.queue, () => this.#inFlight.size);
    this.#runner = new DeliveryRunner(job, {
      queue: this.queue,
      retryPolicy: this.retryPolicy,
      timeoutMs,
      logger: this.#logger,
      dedup: options.dedup,
      observe: options.metrics && observers(options.metrics, job.jobType),
      draining: () => this.#draining,
      ...(options.middleware ? { middleware: options.middleware } : {}),
      ...(options.events ? { onStart: startedListener(options.events) } : {}),
    });
    this.#applier = new VerdictApplier<Channel>({
      namespace,
      jobType: job.jobType,
      queue: this.queue,
      publisher: options.publisher,
      dedup: options.dedup,
      logger: this.#logger,
      metrics: bound,
      isLive: (channel) => this.#live.has(channel),
      onHold: (channel, message, id) => this.#hold(channel, message, id),
      onOutcome: options.onOutcome,
      publishChild: options.publishChild,
      retryPolicy: this.retryPolicy,
      events: options.events,
    });
    this.#channel = new ManagedChannel<Channel>(connection, {
      name: `consume ${this.queue}`,
      confirm: false,
      logger: this.#logger,
      setup: async (channel, model) => {
        this.#warnOfLegacyQueues(await declareTopology(channel, this.#topology, model));
        await channel.prefetch(this.prefetch);
        // Live before consuming: deliveries can arrive (and a sync handler settle them) before setup resolves.
        this.#live.add(channel);
        if (!this.#draining) await this.#subscribe(channel);
      },
      onClose: (channel) => {
        this.#live.delete(channel);
        this.#consuming = false;
        // What waited for a slot is back in the queue with the channel.
        this.#waiting = this.#waiting.filter((waiting) => waiting.channel !== channel);
        // Held suspects return to the queue with the channel; the next channel starts afresh.
        if (this.#gateChannel === channel) {
          this.#gate.reset();
          this.#gateChannel = undefined;
        }
      },
      onError: (_channel, error) => this.#channelError(error),
    });
  }

  /** True while a consumer is attached to the queue (or paused only to run a suspect alone). */
  get consuming(): boolean {
    return this.#consuming && this.#channel.current !== undefined;
  }

  /** Deliveries being handled now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Deliveries waiting in this worker for a slot of the concurrency. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Settles dropped because their channel had closed. */
  get staleSettles(): number {
    return this.#applier.staleSettles;
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
      // Paused for a suspect: consuming resumes when it has run.
      if (this.#gateChannel === channel && this.#gate.mode === 'isolating') return;
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
      this.#logger.warn({ deadLetterQueue: name }, legacyDeadLetterQueueWarning(name, this.#namespace));
    }
  }

  /** A channel-level exception closed the channel; the one users must act on is named in words of its own. */
  #channelError(error: Error): boolean {
    if (!/acknowledgement .*timed out/i.test(error.message)) return false;
    this.#logger.error(
      { err: error, queue: this.queue, consumerTimeoutMs: this.#consumerTimeoutMs },
      `RabbitMQ closed the channel of ${this.queue}: a delivery stayed unacknowledged longer than the broker's ` +
        `consumer_timeout, and every job in flight on it returns to the queue. The queue's own timeout warren sets ` +
        `(x-consumer-timeout ${this.#consumerTimeoutMs} ms for this job type) applies only on RabbitMQ 4.x and only ` +
        `to a queue declared with it: raise consumer_timeout in rabbitmq.conf above it, or set a consumer-timeout ` +
        `policy on the queue (README, "RabbitMQ versions"). Consuming resumes on a new channel.`,
    );
    return true;
  }

  #onDelivery(channel: Channel, message: ConsumeMessage): void {
    const id = identifyDelivery(message);
    if (this.#gateChannel !== channel) {
      this.#gate.reset();
      this.#gateChannel = channel;
    }
    const suspect = isSuspect(message.fields.redelivered, id.headers);
    const exhausted = suspect && this.#deliveryLimit !== undefined && returnedTooOften(id.headers, this.#deliveryLimit);
    if (exhausted) {
      this.#logger.warn({ jobId: id.jobId, reason: 'delivery_limit' }, exhausted.error.message);
      return this.#dispatch(channel, message, id, exhausted);
    }
    const admission = this.#gate.admit({ message, id }, suspect, this.#draining);
    if (admission.pause) {
      this.#logger.info(
        { jobId: id.jobId, attempt: id.attempt, suspect },
        suspect
          ? 'a job came back after a crash or a lost channel; pausing to run it alone'
          : 'the suspects have run; back to full prefetch',
      );
      void this.#pause(channel, message.fields.consumerTag);
    }
    switch (admission.action) {
      case 'run':
        return this.#take(channel, message, id);
      case 'defer':
        return this.#dispatch(channel, message, id, DEFER);
      case 'give-back':
        return this.#dispatch(channel, message, id, GIVE_BACK);
      case 'hold':
        return;
    }
  }

  /**
   * Runs a delivery to its verdict (unless one is given) and applies it; synchronous all the way for a synchronous
   * success. `after` runs when it is settled, before the in-flight books are kept.
   */
  #dispatch(
    channel: Channel,
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict?: Verdict,
    after?: () => void,
  ): void {
    const controller = new LazyAbort();
    this.#inFlight.add(controller);
    let pending: Promise<void> | undefined;
    try {
      // A process span only while the application has registered a tracer provider (else this is a cheap check).
      // Named after the queue, which every attempt of the job comes from, whichever exchange brought it.
      const span = startProcessSpan(message, id, this.queue, this.job.jobType, this.#connection.node);
      if (span === undefined) {
        const decided = verdict ?? this.#runner.run(message, id, controller);
        pending =
          decided instanceof Promise
            ? decided.then((settled) => this.#applier.apply(channel, message, id, settled))
            : this.#applier.apply(channel, message, id, decided);
      } else {
        // Active while the handler runs and while the verdict is applied: the handler's spans and the publish of
        // the retry or dead-letter copy nest inside it; it ends once the delivery is settled.
        pending = span.run(
          () => verdict ?? this.#runner.run(message, id, controller),
          (settled) => this.#applier.apply(channel, message, id, settled),
        );
      }
    } catch (err) {
      // The runner turns every failure into a verdict; reaching here is a bug, and the delivery returns on close.
      this.#logger.error({ err }, 'unexpected error while handling a delivery');
    }
    if (pending === undefined) {
      after?.();
      this.#finished(controller);
    } else
      pending.then(
        () => {
          after?.();
          this.#finished(controller);
        },
        (err: unknown) => {
          this.#logger.error({ err }, 'unexpected error while handling a delivery');
          after?.();
          this.#finished(controller);
        },
      );
  }

  /** Runs a delivery in a free slot of the concurrency, or keeps it waiting for one. */
  #take(channel: Channel, message: ConsumeMessage, id: DeliveryIdentity): void {
    if (this.#running >= this.concurrency) {
      this.#waiting.push({ channel, message, id });
      return;
    }
    this.#running += 1;
    this.#dispatch(channel, message, id, undefined, this.#slotFreed);
  }

  /** A run in a slot is settled: the oldest waiting delivery on a live channel takes the slot. */
  readonly #slotFreed = (): void => {
    this.#running -= 1;
    for (;;) {
      const next = this.#waiting.shift();
      if (next === undefined) return;
      // Its channel closed meanwhile (onClose keeps the list clean; this is the belt to those braces).
      if (!this.#live.has(next.channel)) continue;
      return this.#take(next.channel, next.message, next.id);
    }
  };

  /** Keeps the in-flight books when a delivery is done with; the last one out lets the gate take its next step. */
  #finished(controller: LazyAbort): void {
    this.#inFlight.delete(controller);
    if (this.#inFlight.size > 0 || this.#waiting.length > 0) return;
    if (this.#idleWaiters.length > 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    this.#advance();
  }

  /** A suspect whose deferring copy was not confirmed waits, unacknowledged, for its own turn alone. */
  #hold(channel: Channel, message: ConsumeMessage, id: DeliveryIdentity): void {
    // On a channel that has closed, the broker has it back already.
    if (this.#gateChannel !== channel || !this.#gate.deferFailed({ message, id })) return;
    // The isolation that deferred it is over and consuming has resumed: stop the current consumer for it.
    const consumerTag = this.#consumerTags.get(channel);
    if (consumerTag) void this.#pause(channel, consumerTag);
  }

  /** Cancels the consumer (a delivery's own tag: the first ones can arrive before `consume` resolves with it). */
  async #pause(channel: Channel, consumerTag: string): Promise<void> {
    try {
      await channel.cancel(consumerTag);
    } catch (err) {
      // The channel is closing: what it held returns to the queue, and onClose resets the gate.
      this.#logger.debug({ err }, 'pausing the consumer failed; the channel is closing');
      return;
    }
    if (this.#gateChannel !== channel) return;
    this.#gate.paused();
    this.#advance();
  }

  /**
   * Does the gate's next step: make sure the broker has every settle before a held suspect runs alone, run it, give
   * the held ones back (shutdown), or resume.
   */
  #advance(): void {
    const channel = this.#gateChannel;
    if (!channel) return;
    const step = this.#gate.next(this.#inFlight.size + this.#waiting.length, this.#draining);
    switch (step.kind) {
      case 'wait':
        return;
      case 'flush':
        // Nothing is in flight, but the last settle (a deferral's ack, a run's) may have been sent in this very turn
        // of the event loop: amqplib writes it out turns later, and a suspect that killed the process at once kept it
        // in. In the delivery-limit chaos test at prefetch 2, the job deferred beside the poison one was charged for
        // every crash that way and dead-lettered with it.
        void this.#flushSettles(channel).then((flushed) => {
          // A channel that closed meanwhile took the held suspects back, and the gate started afresh.
          if (!flushed || this.#gateChannel !== channel) return;
          this.#gate.flushed();
          this.#advance();
        });
        return;
      case 'run-alone':
        // Its settle ends in #finished, which calls back here for the next step.
        return this.#dispatch(channel, step.item.message, step.item.id, undefined, () => this.#gate.ranAlone());
      case 'give-back':
        for (const { message, id } of step.items) this.#dispatch(channel, message, id, GIVE_BACK);
        return;
      case 'resume':
        void this.#resume(channel, step.prefetch === 'one' ? 1 : this.prefetch);
    }
  }

  /** Consumes again, with a new consumer: RabbitMQ applies a prefetch only to consumers created after it. */
  async #resume(channel: Channel, prefetch: number): Promise<void> {
    try {
      await channel.prefetch(prefetch);
      if (this.#draining || !this.#live.has(channel)) return;
      await this.#subscribe(channel);
    } catch (err) {
      this.#logger.warn({ err }, 'resuming the consumer failed; the channel is closing');
    }
  }

  /** Stops taking deliveries (cancels the consumer, keeps the channel: settles must go on it). */
  async stopConsuming(): Promise<void> {
    this.#draining = true;
    this.#consuming = false;
    const channel = this.#channel.current;
    const tag = channel ? this.#consumerTags.get(channel) : undefined;
    if (channel && tag) await channel.cancel(tag).catch((err: unknown) => this.#logger.warn({ err }, 'cancel failed'));
    // Suspects still waiting for their turn go back to the queue, to run alone in the next worker.
    this.#advance();
  }

  /**
   * Waits for in-flight handlers, and the deliveries waiting for a slot, up to `graceMs`; then gives back what still
   * waits (it never started), aborts the handlers' signals and waits `abortWaitMs` more. Resolves with how many were
   * still running at the end (their deliveries return to the queue on close).
   */
  async drain(graceMs: number, abortWaitMs: number): Promise<number> {
    if (!(await this.#waitIdle(graceMs))) {
      const waiting = this.#waiting.splice(0);
      for (const { channel, message, id } of waiting) this.#dispatch(channel, message, id, GIVE_BACK);
      this.#logger.warn(
        { inFlight: this.#inFlight.size, givenBack: waiting.length },
        'shutdown grace time is over; aborting in-flight jobs',
      );
      for (const controller of this.#inFlight) controller.abort(new Error('worker is shutting down'));
      await this.#waitIdle(abortWaitMs);
    }
    return this.#inFlight.size;
  }

  #waitIdle(ms: number): Promise<boolean> {
    if (this.#inFlight.size === 0 && this.#waiting.length === 0) return Promise.resolve(true);
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
    const channel = this.#channel.current;
    if (channel) await this.#flushSettles(channel);
    await this.#channel.close();
  }

  /**
   * Resolves once the broker has every settle sent so far on `channel`, so that closing it (or a crash) hands back
   * only what is unsettled; false when the channel failed meanwhile. A channel keeps at most 32 unapplied settle
   * commands in flight to a quorum queue; beyond that it stashes settles until the queue applies earlier ones, and
   * closing the channel drops the stash: of 200 acks sent together at the end of a drain, 167 were lost (RabbitMQ
   * 3.10 and 4.0) and those jobs ran again. The stash leaves with the queue's next commit, so wait until the last
   * settle is SETTLE_FLUSH_MS old; then a basic.qos round trip makes sure the channel has handled every frame before
   * it (a passive queue.declare does not). A handler aborted at the end of a drain's grace time may still settle
   * meanwhile: wait again, a few times at most. The prefetch it sets is the channel's own: a consumer created after
   * it (after a pause) gets the prefetch `#resume` sets.
   */
  async #flushSettles(channel: Channel): Promise<boolean> {
    const latest = Date.now() + 4 * SETTLE_FLUSH_MS;
    for (;;) {
      const quietMs = Math.min(SETTLE_FLUSH_MS - (Date.now() - this.#applier.lastSettleAt), latest - Date.now());
      if (quietMs <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
    try {
      await channel.prefetch(this.prefetch);
      return true;
    } catch (err) {
      this.#logger.debug({ err }, 'flushing the settles failed; the channel is closing');
      return false;
    }
  }
}

/** Binds the per-queue metric children once, with every series at 0 from the start (rate() sees the first event). */
function bindMetrics(metrics: WarrenMetrics, queue: string, jobType: string, policy: RetryPolicy): BoundMetrics {
  const processed = (outcome: ProcessOutcome) => metrics.processedCount(queue, jobType, outcome);
  const bound: BoundMetrics = {
    metrics,
    stale: metrics.staleSettles.labels(queue),
    processed: {
      success: processed('success'),
      retry: processed('retry'),
      dead: processed('dead'),
      invalid: processed('invalid'),
      timeout: processed('timeout'),
      duplicate: processed('duplicate'),
    },
  };
  bound.stale.inc(0);
  for (const delayMs of policy.tiersMs) metrics.retries.labels(jobType, tierName(delayMs)).inc(0);
  for (const reason of DEAD_LETTER_REASONS) metrics.deadLetters.labels(jobType, reason).inc(0);
  return bound;
}

/** Emits `started` when someone listens (checked per call: listeners may come after the consumer is built). */
function startedListener(events: JobEvents): (ctx: DeliveryContext) => void {
  return (ctx) => {
    if (events.has('started'))
      events.emit('started', { jobId: ctx.jobId, jobType: ctx.jobType, attempt: ctx.attempt, headers: ctx.headers });
  };
}

function observers(
  metrics: WarrenMetrics,
  jobType: string,
): { duration: (s: number) => void; wait: (s: number) => void } {
  const duration = metrics.duration.labels(jobType);
  const wait = metrics.wait.labels(jobType);
  return { duration: (seconds) => duration.observe(seconds), wait: (seconds) => wait.observe(seconds) };
}
