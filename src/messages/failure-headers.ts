import { hostname } from 'node:os';
import { entryBytes, tableBytes } from './header-bytes.js';
import {
  FAILURE_CONTEXT_HEADERS,
  HEADERS,
  HEADER_PREFIX,
  MAX_DEATHS,
  MAX_DROPPED_NAMES,
  MAX_ERROR_NAME_CHARS,
  MAX_HEADER_TABLE_BYTES,
  MAX_MESSAGE_CHARS,
  MAX_STACK_CHARS,
  type DeadLetterReason,
} from './headers.js';
import {
  attemptOf,
  readDroppedHeaders,
  readDueAt,
  readInteger,
  readReplayOf,
  readParent,
  readSchedule,
  readTimeMs,
} from './read-headers.js';

/** What went wrong with one delivery, for the headers of its retry copy or dead letter. */
export interface FailureContext {
  /** `retry` for a retry copy; otherwise why it is dead-lettered. */
  readonly outcome: 'retry' | DeadLetterReason;
  readonly error: Error;
  /** The attempt that failed (1-based). One that is no safe positive integer is read from `previous` instead. */
  readonly attempt: number;
  readonly queue: string;
  readonly routingKey: string;
  /** Headers the delivery carried (its earlier failures among them). */
  readonly previous: Readonly<Record<string, unknown>> | undefined;
  readonly now: Date;
  /**
   * The largest header table the copy may have, in encoded bytes.
   * @defaultValue {@link MAX_HEADER_TABLE_BYTES}
   */
  readonly maxHeaderBytes?: number;
}

const HOST = hostname();

/** warren's headers that every copy writes anew: the original's values, valid or not, are not carried. */
const REBUILT: ReadonlySet<string> = new Set([...FAILURE_CONTEXT_HEADERS, HEADERS.droppedHeaders]);

/** warren's headers that a copy carries over from the original, each read back by its validating reader. */
const CARRIED: ReadonlyMap<string, (headers: Readonly<Record<string, unknown>>) => unknown> = new Map([
  [HEADERS.dueAt, readDueAt],
  [HEADERS.schedule, readSchedule],
  [HEADERS.replayOf, readReplayOf],
  [HEADERS.parent, readParent],
]);

const ELLIPSIS = '…';
/** What a trimmed string ends with, in UTF-8 bytes. */
const ELLIPSIS_BYTES = 3;

/**
 * The headers of a retry copy or dead letter: the message's own headers plus the error context. Pure but for the
 * host name. A retry copy carries the number of the attempt it will be; a dead letter the number of attempts made,
 * and its reason. The first-failure time is kept from earlier attempts when it is a valid time no later than this
 * failure; stack and message are truncated. warren's headers are written anew, never copied from the original.
 *
 * The result always fits `maxHeaderBytes` (amqplib's limit by default). When the original's headers would not leave
 * room, the largest foreign headers are left out first, then the broker's `x-death` trail beyond its newest entry,
 * then warren's carried headers and the rest of the broker's bookkeeping, and last the stack and message are
 * shortened; every name is recorded in `x-warren-dropped-headers`. Headers amqplib cannot encode (`NaN`, a
 * `'!'`-typed object of no known type), invalid carried warren headers and an `x-death` that is no array are
 * always left out, and recorded the same way. In the common case the size is only bounded, never measured exactly.
 */
export function failureHeaders(context: FailureContext): Record<string, unknown> {
  const previous = context.previous ?? {};
  const dropped: string[] = [];
  const headers: Record<string, unknown> = {};
  for (const name in previous) {
    const value = previous[name];
    if (value === undefined) continue;
    if (name.startsWith(HEADER_PREFIX)) {
      if (REBUILT.has(name)) continue;
      const valid = CARRIED.get(name);
      if (valid !== undefined && valid(previous) === undefined) {
        dropped.push(name);
        continue;
      }
    } else if (name === 'x-delivery-count') {
      // The broker's redelivery count belongs to the original delivery; a copy starts its own.
      continue;
    } else if (name === 'x-death') {
      const deaths = boundDeaths(value);
      if (deaths !== value) dropped.push(name);
      if (deaths !== undefined) headers[name] = deaths;
      continue;
    }
    headers[name] = value;
  }
  const carried = Object.keys(headers);
  writeOwnHeaders(headers, context, previous);
  const earlier = readDroppedHeaders(previous);
  if (earlier !== undefined || dropped.length > 0) headers[HEADERS.droppedHeaders] = dropRecord(earlier, dropped);
  const budget = context.maxHeaderBytes ?? MAX_HEADER_TABLE_BYTES;
  // The common case: an upper bound that does not measure a single string says it fits.
  if (tableBytes(headers) <= budget) return headers;
  return fit(headers, carried, earlier, dropped, budget);
}

/** Writes the error context of every copy into `headers`, from the context and the original's validated headers. */
function writeOwnHeaders(
  headers: Record<string, unknown>,
  context: FailureContext,
  previous: Readonly<Record<string, unknown>>,
): void {
  const now = context.now.toISOString();
  const first = previous[HEADERS.firstFailureAt];
  const firstMs = readTimeMs(first);
  const attempt = Math.min(readInteger(context.attempt, 1) ?? attemptOf(previous), Number.MAX_SAFE_INTEGER - 1);
  const retry = context.outcome === 'retry';
  const { error } = context;
  if (!retry) headers[HEADERS.reason] = context.outcome;
  headers[HEADERS.attempt] = retry ? attempt + 1 : attempt;
  headers[HEADERS.errorName] = truncate(String(error.name), MAX_ERROR_NAME_CHARS);
  headers[HEADERS.errorMessage] = truncate(String(error.message), MAX_MESSAGE_CHARS);
  headers[HEADERS.errorStack] = truncate(String(error.stack ?? ''), MAX_STACK_CHARS);
  // A first failure after this one is not believed (a forged or broken header); a worker whose clock runs behind
  // the first one's only moves it to now.
  headers[HEADERS.firstFailureAt] =
    firstMs === undefined || firstMs > context.now.getTime()
      ? now
      : typeof first === 'string'
        ? first
        : new Date(firstMs).toISOString();
  headers[HEADERS.lastFailureAt] = now;
  headers[HEADERS.originalQueue] = context.queue;
  // The key it was first published with: a retry comes back with its tier's (`10m.report`), which names no job.
  const firstKey = previous[HEADERS.originalRoutingKey];
  headers[HEADERS.originalRoutingKey] =
    typeof firstKey === 'string' && firstKey !== '' && firstKey.length <= 255 ? firstKey : context.routingKey;
  headers[HEADERS.workerHost] = HOST;
  headers[HEADERS.workerPid] = process.pid;
}

/**
 * The newest {@link MAX_DEATHS} entries of an `x-death` trail that are tables (the same array when nothing is
 * left out), or `undefined` when it is no array.
 */
function boundDeaths(value: unknown): readonly unknown[] | undefined {
  if (!isArray(value)) return undefined;
  if (value.length <= MAX_DEATHS && value.every(isTable)) return value;
  return value.filter(isTable).slice(0, MAX_DEATHS);
}

function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

function isTable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** The broker's dead-lettering trail, which dlq tools read: kept longer than foreign headers. */
function isBrokerBookkeeping(name: string): boolean {
  return name === 'x-death' || name.startsWith('x-first-death-') || name.startsWith('x-last-death-');
}

/**
 * The value of `x-warren-dropped-headers`: the names recorded by earlier copies, then the new ones, each once; at
 * most {@link MAX_DROPPED_NAMES} entries, the last `…` when there were more. Names longer than a header name can
 * be (255 bytes) are not believed.
 */
function dropRecord(earlier: readonly string[] | undefined, dropped: readonly string[]): string[] {
  const names = new Set<string>();
  let more = false;
  for (const name of [...(earlier ?? []), ...dropped]) {
    if (name === ELLIPSIS) more = true;
    else if (name.length <= 255 && Buffer.byteLength(name, 'utf8') <= 255) names.add(name);
  }
  const list = [...names];
  if (!more && list.length <= MAX_DROPPED_NAMES) return list;
  return [...list.slice(0, MAX_DROPPED_NAMES - 1), ELLIPSIS];
}

/**
 * Cuts `headers` down to `budget` encoded bytes, in place, measuring exactly: what amqplib cannot encode goes
 * first, then foreign headers (largest first), the `x-death` trail down to its newest entry, warren's carried
 * headers and the broker's bookkeeping (largest first), and last the stack and the message are shortened.
 */
function fit(
  headers: Record<string, unknown>,
  carried: readonly string[],
  earlier: readonly string[] | undefined,
  dropped: string[],
  budget: number,
): Record<string, unknown> {
  const sizes = new Map<string, number>();
  for (const name of carried) sizes.set(name, entryBytes(name, headers[name], true));
  const drop = (name: string): void => {
    delete headers[name];
    sizes.delete(name);
    dropped.push(name);
  };
  for (const [name, bytes] of sizes) if (bytes === Infinity) drop(name);
  const bySize = (names: string[]): string[] =>
    names.sort((a, b) => (sizes.get(b) ?? 0) - (sizes.get(a) ?? 0) || (a < b ? -1 : 1));
  const own = Object.keys(headers).filter((name) => !sizes.has(name) && name !== HEADERS.droppedHeaders);
  const ownBytes = (): number => own.reduce((sum, name) => sum + entryBytes(name, headers[name], true), 0);
  let carriedBytes = [...sizes.values()].reduce((sum, bytes) => sum + bytes, 0);
  let fixedBytes = ownBytes();
  // The record is measured again only while it grows: once it ends in `…` more names no longer change it (thousands
  // of tiny headers must not cost a measurement each).
  let recordBytes = 0;
  let recorded = -1;
  let full = false;
  const excess = (): number => {
    if (!full && recorded !== dropped.length) {
      const record = dropRecord(earlier, dropped);
      recordBytes = record.length === 0 ? 0 : entryBytes(HEADERS.droppedHeaders, record, true);
      recorded = dropped.length;
      full = record.at(-1) === ELLIPSIS;
    }
    return 4 + carriedBytes + fixedBytes + recordBytes - budget;
  };
  const foreign = bySize(carried.filter((name) => sizes.has(name) && !isOwnOrBookkeeping(name)));
  const kept = bySize(carried.filter((name) => sizes.has(name) && isOwnOrBookkeeping(name)));
  for (const name of foreign) {
    if (excess() <= 0) break;
    carriedBytes -= sizes.get(name) ?? 0;
    drop(name);
  }
  const deaths = headers['x-death'];
  if (excess() > 0 && Array.isArray(deaths) && deaths.length > 1) {
    headers['x-death'] = deaths.slice(0, 1);
    const bytes = entryBytes('x-death', headers['x-death'], true);
    carriedBytes += bytes - (sizes.get('x-death') ?? 0);
    sizes.set('x-death', bytes);
    dropped.push('x-death');
  }
  for (const name of bySize(kept)) {
    if (excess() <= 0) break;
    carriedBytes -= sizes.get(name) ?? 0;
    drop(name);
  }
  for (const name of [HEADERS.errorStack, HEADERS.errorMessage]) {
    const text = headers[name];
    if (excess() <= 0 || typeof text !== 'string' || text === '') continue;
    // Recorded first: the record's own growth is part of what must be cut.
    dropped.push(name);
    headers[name] = truncateBytes(text, Buffer.byteLength(text, 'utf8') - excess());
    fixedBytes = ownBytes();
  }
  const record = dropRecord(earlier, dropped);
  // The record goes last, where it would have been written had nothing been left out.
  delete headers[HEADERS.droppedHeaders];
  if (record.length > 0) headers[HEADERS.droppedHeaders] = record;
  return headers;
}

function isOwnOrBookkeeping(name: string): boolean {
  return name.startsWith(HEADER_PREFIX) || isBrokerBookkeeping(name);
}

/** At most `max` UTF-16 code units, `…` included; a surrogate pair is never cut in two. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** At most `maxBytes` bytes of UTF-8, `…` included (empty when not even that fits); a character is never cut. */
function truncateBytes(text: string, maxBytes: number): string {
  if (maxBytes < ELLIPSIS_BYTES) return '';
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes - ELLIPSIS_BYTES;
  // Back to the first byte of a character: continuation bytes are 10xxxxxx.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return `${bytes.toString('utf8', 0, end)}${ELLIPSIS}`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
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
