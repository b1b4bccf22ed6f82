import type { DeadLetterReason } from '../messages/headers.js';

/** A job the harness accepted: published by the test, by a schedule's fire, or by a handler. */
export interface PublishedJob {
  /** The message id. */
  readonly jobId: string;
  readonly jobType: string;
  /** The payload as published (decoded from the JSON that was sent). */
  readonly payload: unknown;
  /** The headers it was published with (warren's own included: `x-warren-schedule`, `x-warren-due-at`). */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The clock's time at the publish. */
  readonly publishedAt: Date;
  /** When it becomes due: `publishedAt`, or for a delayed job the whole second its delay ends on. */
  readonly deliverAt: Date;
  /** The schedule whose fire published it. */
  readonly schedule: string | undefined;
}

/** How one delivery of a job ended in the harness: the outcomes a worker reports. */
export type HandledOutcome = 'success' | 'retry' | 'dead' | 'invalid' | 'duplicate';

/**
 * One delivery of a job and what became of it. `invalid` (an undecodable payload or one its schema refused) and
 * `duplicate` (an idempotent or scheduled job whose id already succeeded) never reached the handler.
 */
export interface HandledJob {
  readonly jobId: string;
  readonly jobType: string;
  /** 1 on the first delivery, rising with each retry (`ctx.attempt`). */
  readonly attempt: number;
  /** The payload as delivered (decoded JSON; `undefined` when it was no JSON). */
  readonly payload: unknown;
  readonly outcome: HandledOutcome;
  /** For `dead` and `invalid`: why (the `x-warren-reason` of its dead letter). */
  readonly reason: DeadLetterReason | undefined;
  /** For `retry`, `dead` and `invalid`: what failed, as warren records it (a non-Error thrown is wrapped). */
  readonly error: Error | undefined;
  /** For `retry`: the tier's delay and name (`1m`). */
  readonly delayMs: number | undefined;
  readonly tier: string | undefined;
  /** The attempt ran past its timeout (its `ctx.signal` was aborted). */
  readonly timedOut: boolean;
  /** The clock's time when the delivery started and when it was settled. */
  readonly startedAt: Date;
  readonly settledAt: Date;
}

/** One fire of a schedule. */
export interface FiredSchedule {
  readonly schedule: string;
  /** The fire time: part of the job's message id, `<schedule>@<fire time>`. */
  readonly fireTime: Date;
  readonly jobId: string;
  /** `publish_error` when its job could not be published (no handler for its job type, say); see `error`. */
  readonly outcome: 'published' | 'publish_error';
  readonly error: Error | undefined;
}
