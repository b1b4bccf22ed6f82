import { hostname } from 'node:os';
import { HEADERS, MAX_MESSAGE_CHARS, MAX_STACK_CHARS, type DeadLetterReason } from './headers.js';

/** What went wrong with one delivery, for the headers of its retry copy or dead letter. */
export interface FailureContext {
  /** `retry` for a retry copy; otherwise why it is dead-lettered. */
  readonly outcome: 'retry' | DeadLetterReason;
  readonly error: Error;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  readonly queue: string;
  readonly routingKey: string;
  /** Headers the delivery carried (its earlier failures among them). */
  readonly previous: Readonly<Record<string, unknown>> | undefined;
  readonly now: Date;
}

const HOST = hostname();

/**
 * The headers of a retry copy or dead letter: the message's own headers plus the error context. Pure but for the
 * host name. A retry copy carries the number of the attempt it will be; a dead letter the number of attempts made,
 * and its reason. The first-failure time is kept from earlier attempts; stack and message are truncated.
 */
export function failureHeaders(context: FailureContext): Record<string, unknown> {
  // The broker's redelivery count belongs to the original delivery; a copy starts its own.
  const { 'x-delivery-count': _count, [HEADERS.reason]: _reason, ...previous } = context.previous ?? {};
  const now = context.now.toISOString();
  const first = previous[HEADERS.firstFailureAt];
  const retry = context.outcome === 'retry';
  return {
    ...previous,
    ...(retry ? {} : { [HEADERS.reason]: context.outcome }),
    [HEADERS.attempt]: retry ? context.attempt + 1 : context.attempt,
    [HEADERS.errorName]: truncate(context.error.name, 200),
    [HEADERS.errorMessage]: truncate(context.error.message, MAX_MESSAGE_CHARS),
    [HEADERS.errorStack]: truncate(context.error.stack ?? '', MAX_STACK_CHARS),
    [HEADERS.firstFailureAt]: typeof first === 'string' ? first : now,
    [HEADERS.lastFailureAt]: now,
    [HEADERS.originalQueue]: context.queue,
    [HEADERS.originalRoutingKey]: context.routingKey,
    [HEADERS.workerHost]: HOST,
    [HEADERS.workerPid]: process.pid,
  };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Turns anything a handler threw (`throw "x"`, `throw undefined`, a rejected `null`) into an Error. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  const error = new Error(
    thrown === undefined ? 'handler threw undefined' : `handler threw a non-Error value: ${safeString(thrown)}`,
  );
  error.name = 'NonErrorThrown';
  return error;
}

function safeString(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
