import type { ConsumeMessage, Options } from 'amqplib';
import { failureHeaders } from '../messages/failure-headers.js';
import { HEADERS } from '../messages/headers.js';
import { readDeliveryCount, readInteger } from '../messages/read-headers.js';
import { deadExchange, requeueExchange, retryExchange, retryRoutingKey, suspectRoutingKey } from '../topology/names.js';
import type { DeliveryIdentity } from './delivery-runner.js';
import type { Verdict } from './verdict.js';

/** A verdict that moves the job: its copy is published, confirmed, before the original is settled. */
export type CopyVerdict = Extract<Verdict, { kind: 'retry' | 'dead' | 'defer' }>;

/** Where a copy goes and what it carries. */
export interface VerdictCopy {
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: Options.Publish;
}

/** What a copy's destination and headers depend on besides the verdict and the delivery. */
export interface CopyContext {
  readonly namespace: string;
  readonly jobType: string;
  /** The job queue the delivery came from (named in the copy's headers). */
  readonly queue: string;
  /** The time the failure is recorded at. */
  readonly now: Date;
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

/**
 * The copy a verdict makes of a delivery: to the retry tier of its delay, to the job type's dead-letter queue (both
 * with the error context in warren's headers), or, for a deferred suspect, to the back of its own queue. Pure; the
 * worker's `VerdictApplier` and the test harness of `warren/testing` both publish what it returns.
 */
export function verdictCopy(
  verdict: CopyVerdict,
  message: ConsumeMessage,
  id: DeliveryIdentity,
  context: CopyContext,
): VerdictCopy {
  const { namespace, jobType } = context;
  const [exchange, routingKey] =
    verdict.kind === 'retry'
      ? [retryExchange(namespace), retryRoutingKey(verdict.delayMs, jobType)]
      : verdict.kind === 'dead'
        ? [deadExchange(namespace), jobType]
        : [requeueExchange(namespace), suspectRoutingKey(jobType)];
  const headers =
    verdict.kind === 'defer'
      ? deferredHeaders(id, message.fields.redelivered)
      : copyHeaders(message, id, verdict, context);
  // amqplib types these properties as `any`; they are copied through unchanged.
  const properties = message.properties as CopiedProperties;
  return {
    exchange,
    routingKey,
    properties: {
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
    },
  };
}

function copyHeaders(
  message: ConsumeMessage,
  id: DeliveryIdentity,
  verdict: Extract<Verdict, { kind: 'retry' | 'dead' }>,
  context: CopyContext,
): Record<string, unknown> {
  const headers = failureHeaders({
    outcome: verdict.kind === 'retry' ? 'retry' : verdict.reason,
    error: verdict.error,
    attempt: id.attempt,
    queue: context.queue,
    routingKey: message.fields.routingKey,
    previous: id.headers,
    now: context.now,
  });
  // It ran alone and did not crash: its copy is no longer a suspect.
  delete headers[HEADERS.suspect];
  return headers;
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
