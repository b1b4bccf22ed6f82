import { types } from 'node:util';
import { HEADER_PREFIX } from '../messages/headers.js';
import { MAX_DELAY_MS } from '../topology/names.js';
import type { PublishOptions } from './publish-options.js';

/** Longest AMQP short string, in bytes: the message id is one. */
const MAX_SHORTSTR_BYTES = 255;

/** A value as an error message shows what was given: short, and never a whole long string. */
function shown(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 80 ? `a string of ${Buffer.byteLength(value)} bytes` : JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object' || value === null) return String(value);
  if (types.isDate(value)) return Number.isNaN(value.getTime()) ? 'an invalid Date' : `the Date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  const kind = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `an instance of ${kind}` : 'an object';
}

/** An object literal, or `Object.create(null)`: what AMQP headers are made of (from any realm). */
function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/**
 * What is wrong with a publish's options, in words that follow `cannot publish "<job type>": `; undefined if nothing.
 * Refuses what the CLI refuses (`--delay` with `--at`, a time that is not one) and what the broker would choke on (a
 * message id longer than a short string). A few synchronous checks: an immediate publish is a measured hot path.
 */
export function publishOptionsProblem(options: PublishOptions): string | undefined {
  if (typeof options !== 'object' || options === null)
    return `publish options must be an object; got ${shown(options)}`;
  const { messageId, delayMs, runAt, headers, schedule } = options;
  if (
    messageId !== undefined &&
    // A UTF-16 unit takes at most 3 bytes in UTF-8: short ids need no counting.
    (typeof messageId !== 'string' ||
      messageId === '' ||
      (messageId.length * 3 > MAX_SHORTSTR_BYTES && Buffer.byteLength(messageId) > MAX_SHORTSTR_BYTES))
  ) {
    return `messageId must be a non-empty string of at most ${MAX_SHORTSTR_BYTES} bytes (an AMQP short string); got ${shown(messageId)}`;
  }
  if (delayMs !== undefined && runAt !== undefined)
    return `give delayMs or runAt, not both; got delayMs ${shown(delayMs)} and runAt ${shown(runAt)}`;
  let delay: number | undefined;
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0)
      return `delayMs must be a finite number of milliseconds, 0 or more; got ${shown(delayMs)}`;
    delay = delayMs;
  }
  if (runAt !== undefined) {
    // types.isDate, not instanceof: a Date from another realm (a vm context, a worker's structured clone) is one.
    if (!types.isDate(runAt) || Number.isNaN(runAt.getTime())) return `runAt must be a valid Date; got ${shown(runAt)}`;
    delay = runAt.getTime() - Date.now();
  }
  if (delay !== undefined && delay > MAX_DELAY_MS) {
    const asked = delayMs === undefined ? 'runAt' : 'delayMs';
    return `${asked} asks for a delay of ${Math.ceil(delay / 1000)} s; the longest delay is ${MAX_DELAY_MS / 1000} s (about 8.5 years)`;
  }
  if (headers !== undefined) {
    if (!isPlainObject(headers))
      return `headers must be a plain object of header names and values; got ${shown(headers)}`;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase().startsWith(HEADER_PREFIX))
        return `header ${JSON.stringify(name)} is in warren's own ${HEADER_PREFIX} space (warren sets those itself); use another name`;
    }
  }
  if (schedule !== undefined && (typeof schedule !== 'string' || schedule === ''))
    return `schedule must be the name of a schedule; got ${shown(schedule)}`;
  return undefined;
}
