import { createHash } from 'node:crypto';
import { HEADERS } from '../messages/headers.js';
import { readAttempt, readFirstFailureAt, readLastFailureAt, readWorkerPid } from '../messages/read-headers.js';

/** The parts of a message (an amqplib `Message` fits) that a dead letter's context is read from. */
export interface DeadLetterMessage {
  readonly content: Buffer;
  readonly properties: {
    readonly messageId?: unknown;
    readonly type?: unknown;
    readonly timestamp?: unknown;
    readonly contentType?: unknown;
    readonly headers?: unknown;
  };
}

/**
 * Who dead-lettered a message: `warren` (a worker copied it with its error context: `x-warren-reason`), `broker`
 * (RabbitMQ dead-lettered it: `x-death`, e.g. past the delivery limit after its worker crashed every time) or
 * `unknown` (put into the dead-letter queue by hand).
 */
export type DeadLetterSource = 'warren' | 'broker' | 'unknown';

/** What is known about one dead letter, read from its properties and headers. Missing facts are `undefined`. */
export interface DeadLetterContext {
  /** The AMQP message id (the job id). */
  readonly messageId: string | undefined;
  /**
   * Names this dead-lettering, not just the job: `<message id>|<last failure time>`, where the time is
   * `x-warren-last-failure-at` for warren's dead letters and the latest `x-death` time for the broker's. Without a
   * message id, `sha256:<hash of the body>` stands in for it. Replay records it in `x-warren-replay-of`.
   */
  readonly identity: string;
  readonly source: DeadLetterSource;
  /**
   * Why: warren's `x-warren-reason` (`exhausted`, `non_retryable`, `invalid_payload`, `unknown_job_type`), else the
   * broker's reason of the latest death (`delivery_limit`, `rejected`, `expired`, `maxlen`).
   */
  readonly reason: string | undefined;
  /**
   * Attempts made (`x-warren-attempt`). For a broker dead letter, the attempt whose deliveries crashed past the
   * delivery limit (1 when it never reached a handler's catch), plus, when the limit is known, the redeliveries it
   * took to pass it: the last `ctx.attempt` a handler saw.
   */
  readonly attempts: number | undefined;
  /**
   * For a `delivery_limit` dead letter, how many times its job queue delivered it: `deliveryLimit + 1` for each time
   * it was dead-lettered from there for that reason (the `x-death` entry's `count`). RabbitMQ dead-letters a message
   * once it has been returned more than `deliveryLimit` times, but the dead letter does not carry the job queue's
   * delivery count: its `x-delivery-count` is the dead-letter queue's own (it grows with every peek). Undefined for
   * other dead letters and when the limit is not known.
   */
  readonly deliveries: number | undefined;
  readonly errorName: string | undefined;
  readonly errorMessage: string | undefined;
  /** Truncated by the worker that recorded it. */
  readonly errorStack: string | undefined;
  /** ISO 8601. */
  readonly firstFailureAt: string | undefined;
  /** ISO 8601. */
  readonly lastFailureAt: string | undefined;
  readonly originalQueue: string | undefined;
  readonly originalRoutingKey: string | undefined;
  readonly workerHost: string | undefined;
  readonly workerPid: number | undefined;
  /** Times the broker dead-lettered it from that queue for that reason (`x-death` count). */
  readonly deaths: number | undefined;
  /** Set when the job was itself a replay: the identity of the dead letter it was replayed from. */
  readonly replayOf: string | undefined;
  /** The AMQP `type` (warren sets the job type). */
  readonly type: string | undefined;
  readonly contentType: string | undefined;
  /** When it was first published (AMQP `timestamp`), ISO 8601. */
  readonly publishedAt: string | undefined;
  /** The body as text (`utf8`), or base64 when it is not valid UTF-8. */
  readonly body: string;
  readonly bodyEncoding: 'utf8' | 'base64';
  readonly bodyBytes: number;
}

/** What a dead letter's context is read with besides the message. */
export interface DeadLetterSettings {
  /** The job queues' `x-delivery-limit` (the `deliveryLimit` setting): turns a `delivery_limit` death into deliveries. */
  readonly deliveryLimit?: number | undefined;
}

/**
 * Reads a dead letter's context from its properties, without I/O: warren's `x-warren-*` headers first, the broker's
 * `x-death` / `x-first-death-*` headers for what warren did not record.
 */
export function readDeadLetterContext(
  message: DeadLetterMessage,
  settings: DeadLetterSettings = {},
): DeadLetterContext {
  const { properties } = message;
  const headers = isRecord(properties.headers) ? properties.headers : {};
  const death = latestDeath(headers);
  const warrenReason = text(headers[HEADERS.reason]);
  const source: DeadLetterSource =
    warrenReason !== undefined
      ? 'warren'
      : death !== undefined || headers['x-first-death-reason'] !== undefined
        ? 'broker'
        : 'unknown';
  const deathAt = death === undefined ? undefined : time(death['time']);
  const lastFailureAt = source === 'broker' ? (deathAt ?? readLastFailureAt(headers)) : readLastFailureAt(headers);
  const messageId = text(properties.messageId);
  const body = decodeText(message.content);
  const attempt = readAttempt(headers);
  const reason = warrenReason ?? text(death?.['reason']) ?? text(headers['x-first-death-reason']);
  const limit = settings.deliveryLimit;
  const limited = source === 'broker' && reason === 'delivery_limit' && limit !== undefined && limit >= 0;
  // Each delivery_limit death took limit + 1 deliveries: the broker dead-letters on the return past the limit.
  const deaths = death === undefined ? undefined : count(death['count']);
  const deliveries = limited ? (limit + 1) * (death?.['reason'] === 'delivery_limit' ? (deaths ?? 1) : 1) : undefined;
  return {
    messageId,
    identity: `${messageId ?? `sha256:${createHash('sha256').update(message.content).digest('hex')}`}|${lastFailureAt ?? time(properties.timestamp) ?? ''}`,
    source,
    reason,
    attempts: source === 'broker' ? (attempt ?? 1) + (limited ? limit : 0) : attempt,
    deliveries,
    errorName: text(headers[HEADERS.errorName]),
    errorMessage: text(headers[HEADERS.errorMessage]),
    errorStack: text(headers[HEADERS.errorStack]),
    firstFailureAt: readFirstFailureAt(headers) ?? (source === 'broker' ? lastFailureAt : undefined),
    lastFailureAt,
    originalQueue:
      source === 'broker'
        ? (text(death?.['queue']) ?? text(headers['x-first-death-queue']))
        : text(headers[HEADERS.originalQueue]),
    originalRoutingKey:
      source === 'broker' ? firstText(death?.['routing-keys']) : text(headers[HEADERS.originalRoutingKey]),
    workerHost: text(headers[HEADERS.workerHost]),
    workerPid: readWorkerPid(headers),
    deaths,
    replayOf: text(headers[HEADERS.replayOf]),
    type: text(properties.type),
    contentType: text(properties.contentType),
    publishedAt: time(properties.timestamp),
    body: body ?? message.content.toString('base64'),
    bodyEncoding: body === undefined ? 'base64' : 'utf8',
    bodyBytes: message.content.length,
  };
}

/** The most recent `x-death` entry: RabbitMQ keeps the latest first. */
function latestDeath(headers: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> | undefined {
  const deaths = headers['x-death'];
  const first: unknown = Array.isArray(deaths) ? deaths[0] : undefined;
  return isRecord(first) ? first : undefined;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (Buffer.isBuffer(value)) return value.toString('utf8') || undefined;
  return undefined;
}

function firstText(value: unknown): string | undefined {
  return Array.isArray(value) ? text(value[0]) : text(value);
}

function count(value: unknown): number | undefined {
  const number =
    typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

/**
 * A time as ISO 8601: an ISO string is kept as written; AMQP timestamps (whole seconds, as a number or as amqplib's
 * `{ '!': 'timestamp', value }`) and Dates are converted.
 */
function time(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  const seconds = isRecord(value) && value['!'] === 'timestamp' ? value['value'] : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return undefined;
  return new Date(seconds * 1000).toISOString();
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeText(content: Buffer): string | undefined {
  try {
    return UTF8.decode(content);
  } catch {
    return undefined;
  }
}
