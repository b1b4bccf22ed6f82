import { hasCode } from '../errors/warren-error.js';
import type { ChildJob } from './child-jobs.js';
import { toError } from '../messages/failure-headers.js';
import { HEADERS, type DeadLetterReason } from '../messages/headers.js';
import { readDeliveryCount, readInteger } from '../messages/read-headers.js';
import { decide } from '../retry/decide.js';
import type { RetryPolicy } from '../retry/retry-policy.js';

/**
 * What becomes of one delivery: one value, decided by the pure functions of this module from the delivery, what
 * its schema and handler did, and the retry policy; applied to the broker in one place (`VerdictApplier`).
 *
 * - `ack`: done (`success`, or a `duplicate` of a job that already succeeded); its `children` are published and
 *   confirmed first (when one is not, the attempt fails instead), then `recordDone` records the job for
 *   de-duplication;
 * - `retry` / `dead`: a copy to the retry tier / the dead-letter queue, confirmed, then the original is acked;
 * - `give-back`: returned to its queue untouched (a job aborted by shutdown);
 * - `defer`: a suspect that must wait while another suspect runs alone: a confirmed copy to the back of its queue,
 *   then the original is acked.
 */
export type Verdict = AckVerdict | RetryVerdict | DeadVerdict | GiveBackVerdict | DeferVerdict;

/** The job is done. */
export interface AckVerdict {
  readonly kind: 'ack';
  readonly outcome: 'success' | 'duplicate';
  /** Record the job id as done (idempotent and scheduled jobs) before the ack. */
  readonly recordDone: boolean;
  /** Child jobs the handler published (`ctx.publish`): sent, confirmed, before anything else is done. */
  readonly children?: readonly ChildJob[];
}

/** The attempt failed and another is due after `delayMs` (a retry tier). */
export interface RetryVerdict {
  readonly kind: 'retry';
  readonly delayMs: number;
  readonly error: Error;
  /** The attempt ran past its timeout (counted as `timeout` in the metrics). */
  readonly timedOut: boolean;
}

/** The job goes to its dead-letter queue, for `reason`. */
export interface DeadVerdict {
  readonly kind: 'dead';
  readonly reason: DeadLetterReason;
  readonly error: Error;
  readonly timedOut: boolean;
}

/** Returned to its queue untouched. */
export interface GiveBackVerdict {
  readonly kind: 'give-back';
}

/** Moved to the back of its queue (confirmed copy, then ack): it runs later, alone. */
export interface DeferVerdict {
  readonly kind: 'defer';
}

export const SUCCESS: AckVerdict = Object.freeze({ kind: 'ack', outcome: 'success', recordDone: false });
export const SUCCESS_RECORDED: AckVerdict = Object.freeze({ kind: 'ack', outcome: 'success', recordDone: true });
export const DUPLICATE: AckVerdict = Object.freeze({ kind: 'ack', outcome: 'duplicate', recordDone: false });
export const GIVE_BACK: GiveBackVerdict = Object.freeze({ kind: 'give-back' });
export const DEFER: DeferVerdict = Object.freeze({ kind: 'defer' });

/**
 * A delivery that arrived on this queue with a routing key of another job type (bound by hand): its handler is
 * not the one it was meant for, so it is dead-lettered. `undefined` when the routing key is this job type's.
 */
export function wrongRoutingKey(routingKey: string, jobType: string, queue: string): DeadVerdict | undefined {
  if (routingKey === jobType || routingKey.endsWith(`.${jobType}`)) return undefined;
  const error = new Error(`routing key "${routingKey}" is not job type "${jobType}" of queue ${queue}`);
  error.name = 'UnknownJobType';
  return { kind: 'dead', reason: 'unknown_job_type', error, timedOut: false };
}

/** Undecodable, or refused by the job's schema: dead-lettered at once, the handler never runs. */
export function invalidPayload(reason: string): DeadVerdict {
  const error = new Error(reason);
  error.name = 'InvalidPayload';
  return { kind: 'dead', reason: 'invalid_payload', error, timedOut: false };
}

/** How the attempt that failed had been stopped, if it had. */
export interface FailureFacts {
  /** The attempt number (1-based) of the delivery. */
  readonly attempt: number;
  /** The job's signal was aborted by the worker's shutdown (the grace time ran out), not by the job's timeout. */
  readonly abortedByShutdown: boolean;
}

/**
 * The verdict on an attempt whose schema or handler threw, rejected or timed out. A job aborted by shutdown is
 * given back untouched (its attempt did not fail: the worker stopped it); any other failure follows the retry
 * policy (`decide`), whatever was thrown (a non-Error is normalised).
 */
export function failureVerdict(thrown: unknown, facts: FailureFacts, policy: RetryPolicy): Verdict {
  if (facts.abortedByShutdown) return GIVE_BACK;
  const error = toError(thrown);
  const timedOut = hasCode(error, 'WARREN_ERR_JOB_TIMEOUT');
  const decision = decide(error, facts.attempt, policy);
  return decision.kind === 'retry'
    ? { kind: 'retry', delayMs: decision.delayMs, error, timedOut }
    : { kind: 'dead', reason: decision.reason, error, timedOut };
}

/**
 * Whether a delivery is a suspect: it came back after its worker died or lost its channel while holding it (the
 * broker's `redelivered` flag), or it is the deferred copy of such a delivery (warren's suspect header). A crash
 * hands back every unacknowledged delivery of the process, so the broker cannot tell the job that crashed from the
 * ones that merely ran beside it: a suspect runs alone, so that a further crash is charged to it only.
 */
export function isSuspect(redelivered: boolean, headers: Readonly<Record<string, unknown>>): boolean {
  return redelivered || headers[HEADERS.suspect] !== undefined;
}

/**
 * A suspect's deferred copy that has been handed back more than `deliveryLimit` times in all: dead-lettered as
 * `delivery_limit`, as the broker does with a delivery it counted past the limit. A deferred copy is a new message
 * whose broker count starts at 0, so the returns of the original travel in warren's suspect header and are added
 * here; without this, a job that crashes its worker could be deferred, crash, be deferred again, and never end.
 * `undefined` for a delivery that is no deferred copy (the broker counts it itself) or is within the limit.
 */
export function returnedTooOften(
  headers: Readonly<Record<string, unknown>>,
  deliveryLimit: number,
): DeadVerdict | undefined {
  const before = readInteger(headers[HEADERS.suspect], 1);
  if (before === undefined) return undefined;
  const returns = before + readDeliveryCount(headers);
  if (returns <= deliveryLimit) return undefined;
  const error = new Error(
    `handed back ${returns} times (its worker crashed or lost its connection while holding it), more than the delivery limit of ${deliveryLimit}`,
  );
  error.name = 'DeliveryLimitExceeded';
  return { kind: 'dead', reason: 'delivery_limit', error, timedOut: false };
}

/**
 * How a verdict settles the original delivery, once its copy (if it makes one) was or was not confirmed. This is
 * the table of give-backs in the README ("RabbitMQ versions"):
 *
 * - `ack` after a confirmed copy, or when the job is done;
 * - `reject` (requeue) when the copy was not confirmed: it must count toward the delivery limit on every version,
 *   so a tier or dead-letter queue that stays unreachable ends in the broker's own dead-lettering, not a hot loop
 *   (RabbitMQ 4.3 no longer counts `nack`);
 * - `nack` (requeue) for a job given back at shutdown: RabbitMQ 4.3+ does not count it; 3.x and 4.0–4.2 count every
 *   return, which the delivery limit's default leaves room for;
 * - `hold` for a suspect whose deferring copy was not confirmed: it stays unacknowledged and runs alone after the
 *   current suspect (handing it back would count it on 3.x and 4.0–4.2).
 */
export function settleMethod(verdict: Verdict, copyConfirmed: boolean): 'ack' | 'reject' | 'nack' | 'hold' {
  switch (verdict.kind) {
    case 'ack':
      return 'ack';
    case 'give-back':
      return 'nack';
    case 'defer':
      return copyConfirmed ? 'ack' : 'hold';
    case 'retry':
    case 'dead':
      return copyConfirmed ? 'ack' : 'reject';
  }
}
