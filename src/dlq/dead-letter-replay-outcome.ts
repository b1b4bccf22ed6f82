import { ConnectionError } from '../errors/connection-error.js';
import { PublishRejectedError } from '../errors/publish-rejected-error.js';
import { PublishTimeoutError } from '../errors/publish-timeout-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';

/**
 * The decisions of a replay pass, without I/O: what the broker's answer to one copy means for its dead letter, what
 * a pass counts, and when a pass is over. `ReplayPass` applies them to the channels.
 */

/**
 * How the broker answered the publish of one copy (mandatory, on a confirm channel):
 * - `confirmed`: `basic.ack`, no `basic.return` before it: the job queue holds the copy;
 * - `returned`: `basic.ack` after a `basic.return`: no queue took the copy;
 * - `nacked`: `basic.nack`: the broker refused the copy (a job queue at its length limit with `reject-publish`);
 * - `timed-out`: no answer within `publishTimeoutMs`: indeterminate, the copy may still arrive;
 * - `lost`: the channel closed (or could not send) before an answer: indeterminate.
 */
export type CopyAnswer = 'confirmed' | 'returned' | 'nacked' | 'timed-out' | 'lost';

/** What one dead letter came to, as a replay counts it. */
export type CopyOutcome = 'replayed' | 'rejected' | 'unroutable' | 'indeterminate';

/** What to do with a dead letter once its copy is answered. */
export interface CopyDecision {
  readonly outcome: CopyOutcome;
  /** Acknowledge (remove) the dead letter. Only a copy confirmed in the job queue allows it. */
  readonly acknowledge: boolean;
  /** Take no more dead letters: the next copies would most likely fare the same. */
  readonly stop: boolean;
}

/**
 * The one rule a replay keeps: a dead letter is acknowledged only when the broker confirmed its copy and returned
 * nothing before that confirm. Every other answer leaves it in the dead-letter queue and stops the pass.
 */
export function decideCopy(answer: CopyAnswer): CopyDecision {
  switch (answer) {
    case 'confirmed':
      return { outcome: 'replayed', acknowledge: true, stop: false };
    case 'nacked':
      return { outcome: 'rejected', acknowledge: false, stop: true };
    case 'returned':
      return { outcome: 'unroutable', acknowledge: false, stop: true };
    case 'timed-out':
    case 'lost':
      return { outcome: 'indeterminate', acknowledge: false, stop: true };
  }
}

/** What a failure message names about the copy and where it went. */
export interface CopyFacts {
  /** The dead letter, as a person recognises it: `dead letter <message id> of "<jobType>"`. */
  readonly label: string;
  readonly deadLetterQueue: string;
  readonly jobQueue: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly publishTimeoutMs: number;
  /** For `lost`: what closed, when known. */
  readonly cause?: Error | undefined;
}

/** The error a pass stops with when a copy is answered with `answer` (anything but `confirmed`). */
export function copyFailure(answer: Exclude<CopyAnswer, 'confirmed'>, facts: CopyFacts): Error {
  const { label, deadLetterQueue: dead } = facts;
  switch (answer) {
    case 'nacked':
      return new PublishRejectedError(
        `RabbitMQ refused the copy of ${label} (basic.nack): ${facts.jobQueue} is most likely at its length limit ` +
          `(max-length with overflow reject-publish, from a policy or an argument); the dead letter stays in ${dead}`,
      );
    case 'returned':
      return new UnroutableError(
        `the copy of ${label} was returned: no queue is bound to ${facts.exchange} for routing key ` +
          `"${facts.routingKey}" (was ${facts.jobQueue} deleted?); the dead letter stays in ${dead}`,
      );
    case 'timed-out':
      return new PublishTimeoutError(
        `no confirm for the copy of ${label} within ${facts.publishTimeoutMs} ms: the outcome is indeterminate (the ` +
          `copy may still arrive); the dead letter stays in ${dead}, and a rerun sends it again`,
      );
    case 'lost':
      return new ConnectionError(
        `the publishing channel closed before the copy of ${label} was confirmed` +
          `${facts.cause ? ` (${facts.cause.message})` : ''}: the outcome is indeterminate; the dead letter stays in ${dead}`,
        { cause: facts.cause },
      );
  }
}

/** Counts of a pass, by outcome, and the first failure (the one the pass stopped for). */
export class ReplayTally {
  readonly #counts: Record<CopyOutcome, number> = { replayed: 0, rejected: 0, unroutable: 0, indeterminate: 0 };
  #failure: Error | undefined;

  count(outcome: CopyOutcome): void {
    this.#counts[outcome] += 1;
  }

  /** Records why the pass stops; the first failure is kept, later ones follow from it. */
  fail(error: Error): void {
    this.#failure ??= error;
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  get counts(): Readonly<Record<CopyOutcome, number>> {
    return { ...this.#counts };
  }
}

/** Where a pass stands, as {@link takesDelivery} and {@link passIsOver} see it. */
export interface PassState {
  /** Dead letters taken on so far. */
  readonly taken: number;
  /** Dead letters the pass sets out to take. */
  readonly total: number;
  /** Copies published and not answered yet. */
  readonly inFlight: number;
  /** A copy failed, the consumer was cancelled, or the replay's signal was aborted. */
  readonly stopping: boolean;
  /** Since the last delivery from the dead-letter queue. */
  readonly idleMs: number;
}

/** With nothing in flight and no delivery for this long, the dead-letter queue has run dry (another client took some). */
export const IDLE_END_MS = 2_000;

/**
 * Whether a delivered dead letter is taken on. One that is not is left unacknowledged: it goes back to the queue,
 * untouched, when the pass closes its channel.
 */
export function takesDelivery(state: PassState): boolean {
  return !state.stopping && state.taken < state.total;
}

/** A pass is over once nothing is in flight and it has taken its total, is stopping, or the queue ran dry. */
export function passIsOver(state: PassState): boolean {
  if (state.inFlight > 0) return false;
  return state.stopping || state.taken >= state.total || state.idleMs > IDLE_END_MS;
}
