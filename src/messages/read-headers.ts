/**
 * Validated reading of warren's own headers. Any client can publish a message with `x-warren-*` headers, so what a
 * worker or the dead-letter tools read back from them is checked, never trusted: a value that is not what warren
 * writes (an attempt of `"abc"`, `-1`, `2.5`, a table or 2^53; a first-failure time that is no date) reads as absent.
 * Pure.
 *
 * What amqplib hands over: strings as strings, integers of every width as numbers (a 64-bit one beyond 2^53 loses
 * precision and is no longer a safe integer), timestamps as `{ '!': 'timestamp', value: <seconds> }`, byte arrays as
 * Buffers, tables as objects, arrays as arrays.
 *
 * @module
 */
import { HEADERS } from './headers.js';

type Headers = Readonly<Record<string, unknown>> | undefined;

/** A canonical decimal integer as a string: what `amqp-publish -H "x-warren-attempt: 3"` and friends send. */
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * A safe integer of at least `min`, from a number, a bigint or a canonical decimal string; else `undefined`.
 * `NaN`, `Infinity`, fractions, 2^53 and beyond, tables, arrays and booleans are not integers here.
 */
export function readInteger(value: unknown, min: number): number | undefined {
  let number: number;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'bigint')
    number = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : NaN;
  else if (typeof value === 'string' && DECIMAL.test(value)) number = Number(value);
  else return undefined;
  // `+ 0` turns -0 into 0.
  return Number.isSafeInteger(number) && number >= min ? number + 0 : undefined;
}

/** A non-empty string (a byte array is read as UTF-8); else `undefined`. */
export function readText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (Buffer.isBuffer(value)) return value.toString('utf8') || undefined;
  return undefined;
}

/**
 * A time as ISO 8601 (UTC or with an offset), or `undefined`. An ISO string that names a real instant (no 30
 * February, no hour 24, an explicit zone) is kept as written; an AMQP timestamp (whole seconds) is converted.
 */
export function readTime(value: unknown): string | undefined {
  const ms = readTimeMs(value);
  if (ms === undefined) return undefined;
  return typeof value === 'string' ? value : new Date(ms).toISOString();
}

/** The instant {@link readTime} reads, in milliseconds since the epoch, or `undefined`. */
export function readTimeMs(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === 'string') {
    ms = isoTimeMs(value);
  } else {
    const seconds =
      typeof value === 'object' && value !== null && (value as { '!'?: unknown })['!'] === 'timestamp'
        ? (value as { value?: unknown }).value
        : undefined;
    ms = typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds >= 0 ? seconds * 1000 : NaN;
  }
  // A Date holds ±8.64e15 ms; beyond is no instant.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : undefined;
}

/** `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z` or an offset: what `Date#toISOString` writes, and its relatives. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/** The instant an ISO 8601 string names, or `NaN`. */
function isoTimeMs(text: string): number {
  // What warren itself writes (`toISOString`, 24 characters), read without a regular expression or Date.parse:
  // this is on the retry path.
  if (text.length === 24 && text.charCodeAt(23) === 0x5a /* Z */) {
    const canonical = canonicalMs(text);
    if (!Number.isNaN(canonical)) return canonical;
  }
  const match = ISO_TIME.exec(text);
  if (match === null) return NaN;
  // Groups 1–5 are always there; seconds and the offset may be missing (read as 0).
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match
    .slice(1)
    .map((part) => Number(part ?? '0'));
  const valid =
    validDate(year ?? 0, month ?? 0, day ?? 0) &&
    (hour ?? 24) <= 23 &&
    (minute ?? 60) <= 59 &&
    // A leap second (:60) is no instant JavaScript can name.
    (second ?? 60) <= 59 &&
    (offsetHours ?? 24) <= 23 &&
    (offsetMinutes ?? 60) <= 59;
  return valid ? Date.parse(text) : NaN;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ` read field by field, or `NaN` when it is not exactly that (or names no instant). */
function canonicalMs(text: string): number {
  if (
    text.charCodeAt(4) !== 0x2d /* - */ ||
    text.charCodeAt(7) !== 0x2d ||
    text.charCodeAt(10) !== 0x54 /* T */ ||
    text.charCodeAt(13) !== 0x3a /* : */ ||
    text.charCodeAt(16) !== 0x3a ||
    text.charCodeAt(19) !== 0x2e /* . */
  )
    return NaN;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const ms = digits(text, 20, 3);
  // Date.UTC reads years 0–99 as 1900–1999: those take the general path.
  if (year < 100 || !validDate(year, month, day) || hour > 23 || minute > 59 || second > 59 || ms < 0) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The decimal number in `text` from `start`, `length` digits long, or -1 when one of them is no digit. */
function digits(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i += 1) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function validDate(year: number, month: number, day: number): boolean {
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/** `x-warren-attempt`: a safe integer ≥ 1, else `undefined` (absent, or not an attempt number). */
export function readAttempt(headers: Headers): number | undefined {
  return readInteger(headers?.[HEADERS.attempt], 1);
}

/**
 * The broker's redelivery count (`x-delivery-count`, set by quorum queues): a safe integer ≥ 0, else 0. On a
 * classic queue the header is whatever the publisher wrote, and is checked the same way.
 */
export function readDeliveryCount(headers: Headers): number {
  return readInteger(headers?.['x-delivery-count'], 0) ?? 0;
}

/**
 * The attempt number of a delivery: warren's `x-warren-attempt` (1 when absent or invalid) plus the broker's
 * redelivery count (0 when absent or invalid). At most `Number.MAX_SAFE_INTEGER - 1`, so the next attempt is safe too.
 */
export function attemptOf(headers: Headers): number {
  return Math.min((readAttempt(headers) ?? 1) + readDeliveryCount(headers), Number.MAX_SAFE_INTEGER - 1);
}

/** `x-warren-first-failure-at` as ISO 8601, or `undefined` when absent or no valid time. */
export function readFirstFailureAt(headers: Headers): string | undefined {
  return readTime(headers?.[HEADERS.firstFailureAt]);
}

/** `x-warren-last-failure-at` as ISO 8601, or `undefined` when absent or no valid time. */
export function readLastFailureAt(headers: Headers): string | undefined {
  return readTime(headers?.[HEADERS.lastFailureAt]);
}

/** `x-warren-worker-pid`: a safe integer ≥ 1, else `undefined`. */
export function readWorkerPid(headers: Headers): number | undefined {
  return readInteger(headers?.[HEADERS.workerPid], 1);
}

/** `x-warren-schedule`: the schedule's name (a non-empty string), else `undefined`. */
export function readSchedule(headers: Headers): string | undefined {
  return readText(headers?.[HEADERS.schedule]);
}

/** `x-warren-parent`: the job id of the parent that published a child job (a non-empty string), else `undefined`. */
export function readParent(headers: Headers): string | undefined {
  return readText(headers?.[HEADERS.parent]);
}

/** `x-warren-replay-of`: the identity of the dead letter a job was replayed from (a non-empty string), else `undefined`. */
export function readReplayOf(headers: Headers): string | undefined {
  return readText(headers?.[HEADERS.replayOf]);
}

/** `x-warren-due-at`: when a delayed job is due, as ISO 8601, else `undefined`. */
export function readDueAt(headers: Headers): string | undefined {
  return readTime(headers?.[HEADERS.dueAt]);
}

/** `x-warren-dropped-headers`: the names recorded as dropped from a copy (strings only), else `undefined`. */
export function readDroppedHeaders(headers: Headers): string[] | undefined {
  const value = headers?.[HEADERS.droppedHeaders];
  if (!Array.isArray(value)) return undefined;
  const names = value.map(readText).filter((name): name is string => name !== undefined);
  return names.length === 0 ? undefined : names;
}
