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
   * On a child job (`ctx.publish` in a handler): the job id of the parent that published it. Children are
   * de-duplicated by message id like scheduled jobs (their ids are derived from the parent's).
   */
  parent: 'x-warren-parent',
  /**
   * On a replayed dead letter: the identity of the dead letter it was replayed from, so a handler (and `warren dlq
   * peek`, should it fail again) can tell which dead-lettering the job came from.
   */
  replayOf: 'x-warren-replay-of',
  /**
   * On the deferred copy of a suspect (a delivery the broker handed back after a crash or a lost channel, moved to
   * the back of its queue to run alone later): how many times it had been handed back. Its presence makes the copy
   * a suspect too.
   */
  suspect: 'x-warren-suspect',
  /**
   * On a retry copy or dead letter that would not have fitted the AMQP header limit ({@link MAX_HEADER_TABLE_BYTES})
   * with all of the original's headers: the names of the headers left out (the largest foreign ones first), or
   * shortened (`x-warren-error-stack`, `x-warren-error-message`, `x-death`), or dropped because amqplib cannot encode
   * them or because they are warren's and invalid. An array of strings, kept across copies, at most
   * {@link MAX_DROPPED_NAMES} entries: when more were dropped, the last is `…`.
   */
  droppedHeaders: 'x-warren-dropped-headers',
});

/**
 * The failure context every retry copy and dead letter carries, written anew by each copy (the original's values,
 * valid or not, are not carried) and removed by a replay (a replayed job starts again at attempt 1).
 */
export const FAILURE_CONTEXT_HEADERS: readonly string[] = Object.freeze([
  HEADERS.reason,
  HEADERS.attempt,
  HEADERS.errorName,
  HEADERS.errorMessage,
  HEADERS.errorStack,
  HEADERS.firstFailureAt,
  HEADERS.lastFailureAt,
  HEADERS.originalQueue,
  HEADERS.originalRoutingKey,
  HEADERS.workerHost,
  HEADERS.workerPid,
]);

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

/**
 * The largest header table warren publishes, in encoded bytes (its 4-byte length prefix included). amqplib encodes
 * a message's headers into a 64 KiB buffer and throws a `RangeError` for a larger table (measured: 65,536 bytes
 * publish on RabbitMQ 3.10 and 4.0, 65,537 do not). Retry and dead-letter copies are cut to fit.
 */
export const MAX_HEADER_TABLE_BYTES = 65_536;
/** Most names recorded in {@link HEADERS.droppedHeaders}. */
export const MAX_DROPPED_NAMES = 16;
/** Most `x-death` entries a copy carries (the newest: RabbitMQ keeps one per queue and reason, latest first). */
export const MAX_DEATHS = 16;
/** Longest error name kept in a copy's headers. */
export const MAX_ERROR_NAME_CHARS = 200;
/** Longest stack trace kept in a dead letter's headers. */
export const MAX_STACK_CHARS = 2_000;
/** Longest error message kept in a dead letter's headers. */
export const MAX_MESSAGE_CHARS = 1_000;

/** The content type warren writes; `application/*+json` and a missing content type are accepted on receipt. */
export const JSON_CONTENT_TYPE = 'application/json';
