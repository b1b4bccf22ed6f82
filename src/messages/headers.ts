/** The prefix of every header name of warren's ({@link HEADERS}); `publish` refuses such names from application code. */
export const HEADER_PREFIX = 'x-warren-';

/** The one place warren's header names are spelled. All share the {@link HEADER_PREFIX}. */
export const HEADERS = Object.freeze({
  /** Attempt number of the delivery that produced this copy (1 for the first). */
  attempt: 'x-warren-attempt',
  /** Why the message was dead-lettered: see {@link DeadLetterReason}. */
  reason: 'x-warren-reason',
  errorName: 'x-warren-error-name',
  errorMessage: 'x-warren-error-message',
  /** Truncated to {@link MAX_STACK_CHARS} so headers stay small. */
  errorStack: 'x-warren-error-stack',
  firstFailureAt: 'x-warren-first-failure-at',
  lastFailureAt: 'x-warren-last-failure-at',
  originalQueue: 'x-warren-original-queue',
  originalRoutingKey: 'x-warren-original-routing-key',
  workerHost: 'x-warren-worker-host',
  workerPid: 'x-warren-worker-pid',
  /** On a delayed job: when it is due (ISO 8601). */
  dueAt: 'x-warren-due-at',
  /** On a scheduled job: the schedule's name. Scheduled jobs are de-duplicated by message id. */
  schedule: 'x-warren-schedule',
  /**
   * On a replayed dead letter: the identity of the dead letter it was replayed from, so a handler (and `warren dlq
   * peek`, should it fail again) can tell which dead-lettering the job came from.
   */
  replayOf: 'x-warren-replay-of',
});

/** Every reason a message is dead-lettered for. */
export const DEAD_LETTER_REASONS = [
  'exhausted',
  'non_retryable',
  'invalid_payload',
  'unknown_job_type',
  'delivery_limit',
] as const;

/** Why a message was dead-lettered. */
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** Longest stack trace kept in a dead letter's headers. */
export const MAX_STACK_CHARS = 2_000;
/** Longest error message kept in a dead letter's headers. */
export const MAX_MESSAGE_CHARS = 1_000;

/** The content type warren writes; `application/*+json` and a missing content type are accepted on receipt. */
export const JSON_CONTENT_TYPE = 'application/json';
