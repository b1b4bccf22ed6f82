import { describe, expect, it } from 'vitest';
import { readDeadLetterContext } from '../../../src/dlq/dead-letter-context.js';
import { HEADERS } from '../../../src/messages/headers.js';
import {
  attemptOf,
  readAttempt,
  readDeliveryCount,
  readDroppedHeaders,
  readDueAt,
  readFirstFailureAt,
  readInteger,
  readLastFailureAt,
  readReplayOf,
  readSchedule,
  readText,
  readTime,
  readWorkerPid,
} from '../../../src/messages/read-headers.js';
import { roundTrip } from './amqplib-codec.js';

/** Values another publisher may put where warren expects a positive attempt number. */
const NOT_ATTEMPTS: ReadonlyArray<[string, unknown]> = [
  ['"abc"', 'abc'],
  ['-1', -1],
  ['0', 0],
  ['2.5', 2.5],
  ['a table', { n: 3 }],
  ['an array', [3]],
  ['2^53', 2 ** 53],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['true', true],
  ['null', null],
  ['an empty string', ''],
  ['" 3"', ' 3'],
  ['"3.0"', '3.0'],
  ['"0x10"', '0x10'],
  ['"1e3"', '1e3'],
  ['"-1"', '-1'],
  ['"03"', '03'],
  ['"9007199254740992" (2^53)', '9007199254740992'],
  ['a Buffer', Buffer.from('3')],
  ['a timestamp', { '!': 'timestamp', value: 3 }],
  ['a decimal', { '!': 'decimal', value: { places: 0, digits: 3 } }],
  ['a bigint of 2^53', 2n ** 53n],
  ['a bigint of 0', 0n],
];

describe('attemptOf: the attempt number of a delivery, from headers anyone can write', () => {
  it('is x-warren-attempt (1 when absent) plus the broker redelivery count', () => {
    expect(attemptOf({})).toBe(1);
    expect(attemptOf(undefined)).toBe(1);
    expect(attemptOf({ [HEADERS.attempt]: 3 })).toBe(3);
    expect(attemptOf({ 'x-delivery-count': 2 })).toBe(3);
    expect(attemptOf({ [HEADERS.attempt]: 3, 'x-delivery-count': 2 })).toBe(5);
  });

  it.each(NOT_ATTEMPTS)('reads an x-warren-attempt of %s as absent: attempt 1', (_name, value) => {
    expect(readAttempt({ [HEADERS.attempt]: value })).toBeUndefined();
    expect(attemptOf({ [HEADERS.attempt]: value })).toBe(1);
    expect(attemptOf({ [HEADERS.attempt]: value, 'x-delivery-count': 1 })).toBe(2);
  });

  it('accepts a canonical decimal string (amqp-publish -H sends strings), a bigint and the largest safe integer', () => {
    expect(attemptOf({ [HEADERS.attempt]: '3' })).toBe(3);
    expect(attemptOf({ [HEADERS.attempt]: 4n })).toBe(4);
    expect(readAttempt({ [HEADERS.attempt]: Number.MAX_SAFE_INTEGER })).toBe(Number.MAX_SAFE_INTEGER);
    // The sum stays a safe integer, and so does the next attempt.
    expect(attemptOf({ [HEADERS.attempt]: Number.MAX_SAFE_INTEGER, 'x-delivery-count': 5 })).toBe(
      Number.MAX_SAFE_INTEGER - 1,
    );
  });

  it.each([
    ['-1', -1],
    ['2.5', 2.5],
    ['"abc"', 'abc'],
    ['NaN', NaN],
    ['2^53', 2 ** 53],
    ['a table', {}],
  ])('reads an x-delivery-count of %s as 0', (_name, value) => {
    expect(readDeliveryCount({ 'x-delivery-count': value })).toBe(0);
    expect(attemptOf({ [HEADERS.attempt]: 2, 'x-delivery-count': value })).toBe(2);
  });

  it('reads what amqplib decodes: a 64-bit attempt beyond 2^53 arrives as an unsafe number and is refused', () => {
    const decoded = roundTrip({
      [HEADERS.attempt]: { '!': 'int64', value: 2n ** 53n + 1n },
      'x-delivery-count': { '!': 'int64', value: 2n },
    });
    expect(typeof decoded[HEADERS.attempt]).toBe('number');
    expect(attemptOf(decoded)).toBe(1 + 2);
    const small = roundTrip({ [HEADERS.attempt]: { '!': 'int64', value: 7 } });
    expect(attemptOf(small)).toBe(7);
    const unsigned = roundTrip({ [HEADERS.attempt]: { '!': 'uint32', value: 4_000_000_000 } });
    expect(attemptOf(unsigned)).toBe(4_000_000_000);
  });
});

describe('readInteger', () => {
  it('honours its minimum', () => {
    expect(readInteger(0, 0)).toBe(0);
    expect(readInteger(0, 1)).toBeUndefined();
    expect(readInteger('0', 0)).toBe(0);
    expect(readInteger(-0, 0)).toBe(0);
  });
});

describe('readTime: a time that names a real instant', () => {
  it.each([
    '2026-01-01T00:00:00.000Z',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00Z',
    '2024-02-29T12:00:00.000Z',
    '2026-01-01T01:00:00+01:00',
    '2026-01-01T01:00:00+0100',
    '2026-01-01T00:00:00.123456Z',
  ])('keeps %s as written', (text) => {
    expect(readTime(text)).toBe(text);
  });

  it.each([
    ['no date', 'yesterday'],
    ['a date without a time', '2026-01-01'],
    ['no zone (local time is ambiguous)', '2026-01-01T00:00:00'],
    ['30 February', '2026-02-30T00:00:00Z'],
    ['29 February of a common year', '2026-02-29T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['day 0', '2026-01-00T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['minute 60', '2026-01-01T00:60:00Z'],
    ['a leap second', '2026-01-01T00:00:60Z'],
    ['an offset of 25 hours', '2026-01-01T00:00:00+25:00'],
    ['a six-digit year', '+012026-01-01T00:00:00Z'],
    ['padding', ' 2026-01-01T00:00:00Z'],
    ['an empty string', ''],
    ['a number (milliseconds? seconds?)', 1_767_225_600],
    ['a table', { at: '2026-01-01T00:00:00Z' }],
    ['a negative timestamp', { '!': 'timestamp', value: -1 }],
    ['a fractional timestamp', { '!': 'timestamp', value: 1.5 }],
    ['a timestamp beyond the year 275760', { '!': 'timestamp', value: 9e15 }],
    ['null', null],
  ])('refuses %s', (_name, value) => {
    expect(readTime(value)).toBeUndefined();
  });

  it('converts an AMQP timestamp (whole seconds), as amqplib decodes it', () => {
    const decoded = roundTrip({ at: { '!': 'timestamp', value: 1_767_225_600 } });
    expect(readTime(decoded['at'])).toBe('2026-01-01T00:00:00.000Z');
  });

  it('reads the first and last failure times, the due time', () => {
    const headers = {
      [HEADERS.firstFailureAt]: '2026-01-01T00:00:00.000Z',
      [HEADERS.lastFailureAt]: 'garbage',
      [HEADERS.dueAt]: '2026-02-30T00:00:00.000Z',
    };
    expect(readFirstFailureAt(headers)).toBe('2026-01-01T00:00:00.000Z');
    expect(readLastFailureAt(headers)).toBeUndefined();
    expect(readDueAt(headers)).toBeUndefined();
  });
});

describe('the other readers', () => {
  it('read a worker pid as a positive integer', () => {
    expect(readWorkerPid({ [HEADERS.workerPid]: 4242 })).toBe(4242);
    for (const value of [0, -1, 2.5, 'x', 2 ** 53, {}])
      expect(readWorkerPid({ [HEADERS.workerPid]: value })).toBe(undefined);
  });

  it('read text as a non-empty string, a byte array as UTF-8', () => {
    expect(readText('a')).toBe('a');
    expect(readText(Buffer.from('é'))).toBe('é');
    for (const value of ['', 3, {}, [], null, Buffer.alloc(0)]) expect(readText(value)).toBeUndefined();
    expect(readSchedule({ [HEADERS.schedule]: 'nightly' })).toBe('nightly');
    expect(readSchedule({ [HEADERS.schedule]: { name: 'nightly' } })).toBeUndefined();
    expect(readReplayOf({ [HEADERS.replayOf]: 'm|2026-01-01T00:00:00.000Z' })).toBe('m|2026-01-01T00:00:00.000Z');
    expect(readReplayOf({ [HEADERS.replayOf]: 7 })).toBeUndefined();
  });

  it('read the dropped-headers record as its strings only', () => {
    expect(readDroppedHeaders({ [HEADERS.droppedHeaders]: ['a', 3, '', 'b'] })).toEqual(['a', 'b']);
    expect(readDroppedHeaders({ [HEADERS.droppedHeaders]: 'a' })).toBeUndefined();
    expect(readDroppedHeaders({ [HEADERS.droppedHeaders]: [] })).toBeUndefined();
  });
});

describe("the dead-letter tools read warren's headers through these readers", () => {
  it('show forged values as unknown', () => {
    const context = readDeadLetterContext({
      content: Buffer.from('{}'),
      properties: {
        messageId: 'm',
        headers: {
          [HEADERS.reason]: 'exhausted',
          [HEADERS.attempt]: 2 ** 53,
          [HEADERS.workerPid]: 0,
          [HEADERS.firstFailureAt]: 'yesterday',
          [HEADERS.lastFailureAt]: '2026-02-30T00:00:00.000Z',
        },
      },
    });
    expect(context).toMatchObject({
      attempts: undefined,
      workerPid: undefined,
      firstFailureAt: undefined,
      lastFailureAt: undefined,
      identity: 'm|',
    });
  });
});
