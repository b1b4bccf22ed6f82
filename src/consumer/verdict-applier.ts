import type { Channel, ConsumeMessage } from 'amqplib';

/** What settling needs of a channel. */
export type SettleChannel = Pick<Channel, 'ack' | 'reject' | 'nack'>;
import type { Logger } from 'pino';
import type { DedupStore } from '../dedup/dedup-store.js';
import type { RetryPolicy } from '../retry/retry-policy.js';
import { childPublishFailure, type ChildJob } from './child-jobs.js';
import type { JobEvent, JobEvents } from './job-events.js';
import type { DeferredCount, ProcessOutcome, WarrenMetrics } from '../metrics/warren-metrics.js';
import type { Publisher } from '../publisher/publisher.js';
import { tierName } from '../topology/names.js';
import type { DeliveryIdentity } from './delivery-runner.js';
import { failureVerdict, settleMethod, type AckVerdict, type Verdict } from './verdict.js';
import { verdictCopy, type CopyVerdict } from './verdict-copy.js';

/** How a delivery ended, as `onOutcome` reports it. */
export type DeliveryOutcome =
  'success' | 'retry' | 'dead' | 'invalid' | 'duplicate' | 'requeued' | 'deferred' | 'held' | 'stale';

/** Metric children bound to one queue's labels once, off the hot path. */
export interface BoundMetrics {
  readonly metrics: WarrenMetrics;
  readonly stale: ReturnType<WarrenMetrics['staleSettles']['labels']>;
  /** Counted per delivery, added to `warren_jobs_processed_total` at each scrape. */
  readonly processed: Record<ProcessOutcome, DeferredCount>;
}

/** What a {@link VerdictApplier} needs. */
export interface VerdictApplierOptions<C extends SettleChannel> {
  readonly namespace: string;
  readonly jobType: string;
  /** The job queue the deliveries come from (named in the copies' headers). */
  readonly queue: string;
  /** Confirmed publishing for the copies (on the publishing connection). */
  readonly publisher: Pick<Publisher, 'send'>;
  readonly dedup: Pick<DedupStore, 'markDone'> | undefined;
  readonly logger: Logger;
  readonly metrics: BoundMetrics | undefined;
  /** Whether a channel is still the live one its deliveries came on. */
  readonly isLive: (channel: C) => boolean;
  /** A suspect whose deferring copy was not confirmed: it stays unacknowledged with the consumer. */
  readonly onHold: (channel: C, message: ConsumeMessage, id: DeliveryIdentity) => void;
  readonly onOutcome: ((outcome: DeliveryOutcome, jobType: string) => void) | undefined;
  /** Publishes one child job, confirmed (the worker's job publisher); resolves with its message id. */
  readonly publishChild: (child: ChildJob) => Promise<string>;
  /** Decides what becomes of a job whose children were not all confirmed (a failure like any other). */
  readonly retryPolicy: RetryPolicy;
  /** The worker's lifecycle events; absent where nobody can listen. */
  readonly events: JobEvents | undefined;
}

/** What a verdict reports once applied, and under which `warren_jobs_processed_total` outcome. */
function reportedAs(verdict: Verdict): { outcome: DeliveryOutcome; counted?: ProcessOutcome } {
  switch (verdict.kind) {
    case 'ack':
      return { outcome: verdict.outcome, counted: verdict.outcome };
    case 'retry':
      return { outcome: 'retry', counted: verdict.timedOut ? 'timeout' : 'retry' };
    case 'dead': {
      const invalid = verdict.reason === 'invalid_payload';
      return {
        outcome: invalid ? 'invalid' : 'dead',
        counted: verdict.timedOut ? 'timeout' : invalid ? 'invalid' : 'dead',
      };
    }
    case 'give-back':
      return { outcome: 'requeued' };
    case 'defer':
      return { outcome: 'deferred' };
  }
}

const SUCCESS_VERDICT: AckVerdict = { kind: 'ack', outcome: 'success', recordDone: false };
const SUCCESS_REPORT = reportedAs(SUCCESS_VERDICT);

/**
 * The one place a {@link Verdict} reaches the broker: the copy it needs (retry tier, dead-letter queue, the back
 * of the queue for a deferred suspect) is published and confirmed first, then the original is settled on the
 * channel it came on, with the method `settleMethod` names. A settle for a channel that has closed is dropped and
 * counted (an ack on a newer channel would be a `406 unknown delivery tag` that closes it again and re-runs every
 * in-flight job); the broker redelivers that delivery.
 */
export class VerdictApplier<C extends SettleChannel> {
  readonly #options: VerdictApplierOptions<C>;
  readonly #logger: Logger;
  #staleSettles = 0;
  #lastSettleAt = 0;

  constructor(options: VerdictApplierOptions<C>) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** Settles dropped because their channel had closed. */
  get staleSettles(): number {
    return this.#staleSettles;
  }

  /** When a delivery was last settled (ms since the epoch). */
  get lastSettleAt(): number {
    return this.#lastSettleAt;
  }

  /** Applies a verdict: synchronously for a plain ack or give-back, with a promise where a copy or record is awaited. */
  apply(channel: C, message: ConsumeMessage, id: DeliveryIdentity, verdict: Verdict): Promise<void> | undefined {
    switch (verdict.kind) {
      case 'ack':
        if (verdict.children !== undefined) return this.#childrenThenAck(channel, message, id, verdict);
        if (verdict.recordDone) return this.#recordThenAck(channel, message, id);
        if (this.#settle(channel, message, 'ack', verdict.outcome === 'success' ? SUCCESS_REPORT : reportedAs(verdict)))
          this.#emit(verdict, id);
        return undefined;
      case 'give-back': {
        const how = settleMethod(verdict, false);
        if (how !== 'hold') this.#settle(channel, message, how, reportedAs(verdict));
        return undefined;
      }
      case 'retry':
      case 'dead':
      case 'defer':
        return this.#copyThenSettle(channel, message, id, verdict);
    }
  }

  /**
   * Publishes a success's child jobs, all confirmed, before anything else: a crash after their confirms and before
   * the ack runs the parent again, which publishes the same message ids, and the children are de-duplicated by them.
   * When one is not confirmed the attempt fails (retried by the job's policy); the confirmed ones are sent again on
   * the next attempt, as duplicates of themselves.
   */
  async #childrenThenAck(
    channel: C,
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict: AckVerdict,
  ): Promise<void> {
    const children = verdict.children ?? [];
    const results = await Promise.allSettled(children.map((child) => this.#options.publishChild(child)));
    const failed = results.flatMap((result, index) =>
      result.status === 'rejected' ? [{ child: children[index] as ChildJob, error: result.reason as unknown }] : [],
    );
    if (failed.length === 0) {
      if (verdict.recordDone) return this.#recordThenAck(channel, message, id);
      if (this.#settle(channel, message, 'ack', SUCCESS_REPORT)) this.#emit(verdict, id);
      return undefined;
    }
    const error = childPublishFailure(id.jobId, failed, children.length);
    this.#logger.warn({ err: error, jobId: id.jobId }, 'child jobs not confirmed; the job fails this attempt');
    const fallback = failureVerdict(
      error,
      { attempt: id.attempt, abortedByShutdown: false },
      this.#options.retryPolicy,
    );
    return this.apply(channel, message, id, fallback);
  }

  /** Acks a success, recorded for de-duplication first. */
  async #recordThenAck(channel: C, message: ConsumeMessage, id: DeliveryIdentity): Promise<void> {
    // Recorded before the ack: a crash in between makes the redelivery a recognised duplicate, not a second run.
    await this.#options.dedup
      ?.markDone(this.#options.jobType, id.jobId)
      .catch((err: unknown) =>
        this.#logger.warn({ err, jobId: id.jobId }, 'could not record the job as done for de-duplication'),
      );
    if (this.#settle(channel, message, 'ack', SUCCESS_REPORT)) this.#emit(SUCCESS_VERDICT, id);
  }

  /** Publishes the verdict's copy, confirmed, and only then acks the original: a crash between may duplicate, never lose. */
  async #copyThenSettle(
    channel: C,
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict: CopyVerdict,
  ): Promise<void> {
    const { namespace, jobType, queue } = this.#options;
    const copy = verdictCopy(verdict, message, id, { namespace, jobType, queue, now: new Date() });
    let confirmed = true;
    try {
      await this.#options.publisher.send(copy.exchange, copy.routingKey, message.content, copy.properties);
    } catch (err) {
      confirmed = false;
      this.#logger.error(
        { err, jobId: id.jobId, outcome: verdict.kind },
        verdict.kind === 'defer'
          ? 'copy of a suspect not confirmed; it stays here and runs alone later'
          : 'copy not confirmed; returning the job to its queue',
      );
    }
    const how = settleMethod(verdict, confirmed);
    if (how === 'hold') {
      this.#options.onHold(channel, message, id);
      this.#options.onOutcome?.('held', jobType);
      return;
    }
    if (confirmed) this.#countCopy(verdict);
    const settled = this.#settle(channel, message, how, confirmed ? reportedAs(verdict) : { outcome: 'requeued' });
    if (settled && confirmed) this.#emit(verdict, id);
  }

  /** Tells the lifecycle listeners what became of a job, once it is so. */
  #emit(verdict: Verdict, id: DeliveryIdentity): void {
    const events = this.#options.events;
    if (events === undefined) return;
    const name =
      verdict.kind === 'ack' && verdict.outcome === 'success'
        ? 'succeeded'
        : verdict.kind === 'retry'
          ? 'retried'
          : verdict.kind === 'dead'
            ? 'dead-lettered'
            : undefined;
    if (name === undefined || !events.has(name)) return;
    const job: JobEvent = { jobId: id.jobId, jobType: this.#options.jobType, attempt: id.attempt, headers: id.headers };
    if (verdict.kind === 'retry')
      events.emit('retried', {
        ...job,
        error: verdict.error,
        delayMs: verdict.delayMs,
        tier: tierName(verdict.delayMs),
        nextAttempt: id.attempt + 1,
      });
    else if (verdict.kind === 'dead')
      events.emit('dead-lettered', { ...job, error: verdict.error, reason: verdict.reason });
    else events.emit('succeeded', job);
  }

  #countCopy(verdict: CopyVerdict): void {
    const bound = this.#options.metrics;
    if (!bound || verdict.kind === 'defer') return;
    if (verdict.kind === 'retry') bound.metrics.retries.labels(this.#options.jobType, tierName(verdict.delayMs)).inc();
    else bound.metrics.deadLetters.labels(this.#options.jobType, verdict.reason).inc();
  }

  /** Settles on the delivering channel; false when that channel is gone (the broker redelivers the job). */
  #settle(
    channel: C,
    message: ConsumeMessage,
    how: 'ack' | 'reject' | 'nack',
    report: { outcome: DeliveryOutcome; counted?: ProcessOutcome },
  ): boolean {
    if (!this.#options.isLive(channel)) {
      this.#stale('dropped a settle for a closed channel; the broker redelivers it', message);
      return false;
    }
    this.#lastSettleAt = Date.now();
    try {
      if (how === 'ack') channel.ack(message);
      else if (how === 'reject') channel.reject(message, true);
      else channel.nack(message, false, true);
    } catch {
      // The channel closed between the check and the call.
      this.#stale('settle failed on a closing channel', message);
      return false;
    }
    if (report.counted) this.#options.metrics?.processed[report.counted].inc();
    this.#options.onOutcome?.(report.outcome, this.#options.jobType);
    return true;
  }

  #stale(why: string, message: ConsumeMessage): void {
    this.#staleSettles += 1;
    this.#options.metrics?.stale.inc();
    this.#logger.debug({ deliveryTag: message.fields.deliveryTag }, why);
    this.#options.onOutcome?.('stale', this.#options.jobType);
  }
}
