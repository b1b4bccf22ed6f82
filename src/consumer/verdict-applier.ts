import type { Channel, ConsumeMessage } from 'amqplib';

/** What settling needs of a channel. */
export type SettleChannel = Pick<Channel, 'ack' | 'reject' | 'nack'>;
import type { Logger } from 'pino';
import type { DedupStore } from '../dedup/dedup-store.js';
import { failureHeaders } from '../messages/failure-headers.js';
import { HEADERS } from '../messages/headers.js';
import { readDeliveryCount, readInteger } from '../messages/read-headers.js';
import type { ProcessOutcome, WarrenMetrics } from '../metrics/warren-metrics.js';
import type { Publisher } from '../publisher/publisher.js';
import {
  deadExchange,
  requeueExchange,
  retryExchange,
  retryRoutingKey,
  suspectRoutingKey,
  tierName,
} from '../topology/names.js';
import type { DeliveryIdentity } from './delivery-runner.js';
import { settleMethod, type Verdict } from './verdict.js';

/** How a delivery ended, as `onOutcome` reports it. */
export type DeliveryOutcome =
  'success' | 'retry' | 'dead' | 'invalid' | 'duplicate' | 'requeued' | 'deferred' | 'held' | 'stale';

/** Metric children bound to one queue's labels once, off the hot path. */
export interface BoundMetrics {
  readonly metrics: WarrenMetrics;
  readonly stale: ReturnType<WarrenMetrics['staleSettles']['labels']>;
  readonly processed: Record<ProcessOutcome, ReturnType<WarrenMetrics['processed']['labels']>>;
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
}

/** The AMQP properties a copy keeps from the original delivery. */
interface CopiedProperties {
  readonly type?: string;
  readonly timestamp?: number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly correlationId?: string;
  readonly appId?: string;
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

const SUCCESS_REPORT = reportedAs({ kind: 'ack', outcome: 'success', recordDone: false });

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
        if (verdict.recordDone) return this.#recordThenAck(channel, message, id);
        this.#settle(channel, message, 'ack', verdict.outcome === 'success' ? SUCCESS_REPORT : reportedAs(verdict));
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

  /** Acks a success, recorded for de-duplication first. */
  async #recordThenAck(channel: C, message: ConsumeMessage, id: DeliveryIdentity): Promise<void> {
    // Recorded before the ack: a crash in between makes the redelivery a recognised duplicate, not a second run.
    await this.#options.dedup
      ?.markDone(this.#options.jobType, id.jobId)
      .catch((err: unknown) =>
        this.#logger.warn({ err, jobId: id.jobId }, 'could not record the job as done for de-duplication'),
      );
    this.#settle(channel, message, 'ack', SUCCESS_REPORT);
  }

  /** Publishes the verdict's copy, confirmed, and only then acks the original: a crash between may duplicate, never lose. */
  async #copyThenSettle(
    channel: C,
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict: Extract<Verdict, { kind: 'retry' | 'dead' | 'defer' }>,
  ): Promise<void> {
    const { namespace, jobType } = this.#options;
    const [exchange, routingKey] =
      verdict.kind === 'retry'
        ? [retryExchange(namespace), retryRoutingKey(verdict.delayMs, jobType)]
        : verdict.kind === 'dead'
          ? [deadExchange(namespace), jobType]
          : [requeueExchange(namespace), suspectRoutingKey(jobType)];
    const headers =
      verdict.kind === 'defer'
        ? deferredHeaders(id, message.fields.redelivered)
        : this.#failureHeaders(message, id, verdict);
    // amqplib types these properties as `any`; they are copied through unchanged.
    const properties = message.properties as CopiedProperties;
    let confirmed = true;
    try {
      await this.#options.publisher.send(exchange, routingKey, message.content, {
        messageId: id.jobId,
        type: properties.type ?? jobType,
        timestamp: properties.timestamp,
        contentType: properties.contentType,
        contentEncoding: properties.contentEncoding,
        correlationId: properties.correlationId,
        appId: properties.appId,
        persistent: true,
        mandatory: true,
        headers,
      });
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
    this.#settle(channel, message, how, confirmed ? reportedAs(verdict) : { outcome: 'requeued' });
  }

  #failureHeaders(
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict: Extract<Verdict, { kind: 'retry' | 'dead' }>,
  ): Record<string, unknown> {
    const headers = failureHeaders({
      outcome: verdict.kind === 'retry' ? 'retry' : verdict.reason,
      error: verdict.error,
      attempt: id.attempt,
      queue: this.#options.queue,
      routingKey: message.fields.routingKey,
      previous: id.headers,
      now: new Date(),
    });
    // It ran alone and did not crash: its copy is no longer a suspect.
    delete headers[HEADERS.suspect];
    return headers;
  }

  #countCopy(verdict: Extract<Verdict, { kind: 'retry' | 'dead' | 'defer' }>): void {
    const bound = this.#options.metrics;
    if (!bound || verdict.kind === 'defer') return;
    if (verdict.kind === 'retry') bound.metrics.retries.labels(this.#options.jobType, tierName(verdict.delayMs)).inc();
    else bound.metrics.deadLetters.labels(this.#options.jobType, verdict.reason).inc();
  }

  #settle(
    channel: C,
    message: ConsumeMessage,
    how: 'ack' | 'reject' | 'nack',
    report: { outcome: DeliveryOutcome; counted?: ProcessOutcome },
  ): void {
    if (!this.#options.isLive(channel)) {
      this.#stale('dropped a settle for a closed channel; the broker redelivers it', message);
      return;
    }
    this.#lastSettleAt = Date.now();
    try {
      if (how === 'ack') channel.ack(message);
      else if (how === 'reject') channel.reject(message, true);
      else channel.nack(message, false, true);
    } catch {
      // The channel closed between the check and the call.
      this.#stale('settle failed on a closing channel', message);
      return;
    }
    if (report.counted) this.#options.metrics?.processed[report.counted].inc();
    this.#options.onOutcome?.(report.outcome, this.#options.jobType);
  }

  #stale(why: string, message: ConsumeMessage): void {
    this.#staleSettles += 1;
    this.#options.metrics?.stale.inc();
    this.#logger.debug({ deliveryTag: message.fields.deliveryTag }, why);
    this.#options.onOutcome?.('stale', this.#options.jobType);
  }
}

/**
 * The headers of a suspect's deferred copy: its own, with the attempt it is on (the broker's redelivery count folded
 * in, since the copy starts its own count) and how often it has been handed back so far.
 */
function deferredHeaders(id: DeliveryIdentity, redelivered: boolean): Record<string, unknown> {
  const { 'x-delivery-count': _count, ...headers } = id.headers;
  const before = readInteger(headers[HEADERS.suspect], 1) ?? 0;
  // Quorum queues count the returns; a classic queue only flags a redelivery.
  const returned = readDeliveryCount(id.headers) || (redelivered ? 1 : 0);
  return { ...headers, [HEADERS.attempt]: id.attempt, [HEADERS.suspect]: before + returned };
}
