import { afterEach, describe, expect, it, vi } from 'vitest';
import { failureHeaders, type FailureContext } from '../../../src/messages/failure-headers.js';
import { tableBytes } from '../../../src/messages/header-bytes.js';
import {
  FAILURE_CONTEXT_HEADERS,
  HEADERS,
  MAX_DEATHS,
  MAX_DROPPED_NAMES,
  MAX_HEADER_TABLE_BYTES,
  MAX_MESSAGE_CHARS,
  MAX_STACK_CHARS,
} from '../../../src/messages/headers.js';
import { amqplibEncodesHeaders, amqplibTableBytes, roundTrip } from './amqplib-codec.js';

const NOW = new Date('2026-02-02T00:00:00.000Z');

function copy(previous: Record<string, unknown>, overrides: Partial<FailureContext> = {}): Record<string, unknown> {
  const error = new Error('it failed');
  error.stack = `Error: it failed\n${'    at somewhere (file.js:1:1)\n'.repeat(40)}`;
  return failureHeaders({
    outcome: 'exhausted',
    error,
    attempt: 3,
    queue: 'ns.job.a',
    routingKey: 'a',
    previous,
    now: NOW,
    ...overrides,
  });
}

/** The copy can be published: amqplib encodes it, within the budget, and warren's context is all there. */
function expectFits(headers: Record<string, unknown>, budget = MAX_HEADER_TABLE_BYTES): void {
  expect(amqplibEncodesHeaders(headers)).toBe(true);
  expect(amqplibTableBytes(headers)).toBeLessThanOrEqual(budget);
  expect(tableBytes(headers, true)).toBe(amqplibTableBytes(headers));
  // The reason is on dead letters only.
  for (const name of FAILURE_CONTEXT_HEADERS.filter((header) => header !== HEADERS.reason)) {
    expect(headers, name).toHaveProperty([name]);
  }
}

/** A foreign header whose entry takes exactly `bytes` encoded bytes (ASCII). */
const sized = (name: string, bytes: number): Record<string, string> => ({
  [name]: 'v'.repeat(bytes - 6 - name.length),
});

afterEach(() => vi.restoreAllMocks());

describe('failureHeaders: a copy keeps the original headers and adds the error context', () => {
  it('keeps every header of an ordinary message and records nothing as dropped', () => {
    const previous = {
      custom: 'kept',
      nested: { a: [1, 2, { b: 'c' }] },
      'x-death': [{ count: 1, reason: 'expired', queue: 'ns.retry.1s', time: { '!': 'timestamp', value: 1 } }],
      [HEADERS.schedule]: 'nightly',
    };
    const headers = copy(previous);
    expect(headers).toMatchObject(previous);
    expect(headers).not.toHaveProperty([HEADERS.droppedHeaders]);
    expectFits(headers);
  });

  it('decides that an ordinary copy fits without measuring a single string', () => {
    const byteLength = vi.spyOn(Buffer, 'byteLength');
    const headers = copy({ custom: 'é'.repeat(1_000), 'x-death': [{ queue: 'q', 'routing-keys': ['a'] }] });
    expect(byteLength).not.toHaveBeenCalled();
    expect(headers['custom']).toBe('é'.repeat(1_000));
  });
});

describe('failureHeaders: the copy always fits the header limit', () => {
  it('drops a foreign header of 64 KiB minus a little, which left no room for the error context', () => {
    const previous = sized('big', MAX_HEADER_TABLE_BYTES - 4 - 64);
    expect(amqplibTableBytes(previous)).toBe(MAX_HEADER_TABLE_BYTES - 64); // the original itself was publishable
    const headers = copy({ ...previous, small: 'kept' });
    expectFits(headers);
    expect(headers).not.toHaveProperty('big');
    expect(headers['small']).toBe('kept');
    expect(headers[HEADERS.droppedHeaders]).toEqual(['big']);
    expect(headers[HEADERS.reason]).toBe('exhausted');
    expect(String(headers[HEADERS.errorStack])).toContain('at somewhere');
  });

  it('keeps a large foreign header that leaves room, and drops the largest first when not all fit', () => {
    expect(copy(sized('roomy', 40_000))).toHaveProperty('roomy');
    const headers = copy({ ...sized('medium', 20_000), ...sized('large', 40_000), ...sized('small', 10_000) });
    expectFits(headers);
    expect(Object.keys(headers).filter((name) => !name.startsWith('x-warren-'))).toEqual(['medium', 'small']);
    expect(headers[HEADERS.droppedHeaders]).toEqual(['large']);
  });

  it('keeps as many of thousands of small headers as fit, and bounds the record of the rest', () => {
    const previous = Object.fromEntries(Array.from({ length: 7_400 }, (_, i) => [`k${i}`, i]));
    expect(amqplibTableBytes(previous)).toBeLessThanOrEqual(MAX_HEADER_TABLE_BYTES);
    const headers = copy(previous);
    expectFits(headers);
    const kept = Object.keys(headers).filter((name) => /^k\d+$/.test(name));
    expect(kept.length).toBeGreaterThan(6_000);
    const record = headers[HEADERS.droppedHeaders] as string[];
    expect(record).toHaveLength(MAX_DROPPED_NAMES);
    expect(record.at(-1)).toBe('…');
    for (const name of record.slice(0, -1)) expect(headers).not.toHaveProperty([name]);
  });

  it('copes with 14,000 tiny headers (a 130 KB table from a client that is not amqplib)', () => {
    const previous = Object.fromEntries(Array.from({ length: 14_000 }, (_, i) => [`k${i}`, i]));
    const headers = copy(previous);
    expectFits(headers);
    expect(Object.keys(headers).length).toBeGreaterThan(7_000);
    expect((headers[HEADERS.droppedHeaders] as string[]).at(-1)).toBe('…');
  });

  it('drops a header holding a huge array or table (another client may send up to the frame size)', () => {
    const list = Array.from({ length: 20_000 }, (_, i) => `item-${i}`);
    const table = Object.fromEntries(Array.from({ length: 8_000 }, (_, i) => [`k${i}`, { v: i }]));
    const headers = copy({ list, table, plain: 1 });
    expectFits(headers);
    expect(headers).not.toHaveProperty('list');
    expect(headers).not.toHaveProperty('table');
    expect(headers['plain']).toBe(1);
    expect(headers[HEADERS.droppedHeaders]).toEqual(['list', 'table']);
  });

  it('counts bytes, not characters: 30,000 CJK characters are 90,000 bytes and do not fit', () => {
    const headers = copy({ cjk: '日'.repeat(30_000), emoji: '🐇'.repeat(5_000), ascii: 'a'.repeat(25_000) });
    expectFits(headers);
    expect(headers).not.toHaveProperty('cjk');
    // 20,000 bytes of emoji and 25,000 of ASCII fit beside the context.
    expect(headers['emoji']).toBe('🐇'.repeat(5_000));
    expect(headers['ascii']).toBe('a'.repeat(25_000));
  });

  it("drops values amqplib cannot encode (NaN, a table with another client's '!' key), even when small", () => {
    const headers = copy({ nan: NaN, bad: { '!': 'abc' }, fine: 'yes' });
    expectFits(headers);
    expect(headers).not.toHaveProperty('nan');
    expect(headers).not.toHaveProperty('bad');
    expect(headers['fine']).toBe('yes');
    expect(headers[HEADERS.droppedHeaders]).toEqual(['nan', 'bad']);
  });

  it('drops foreign headers before the x-death trail, trims the trail to its newest entry before dropping it', () => {
    const deaths = Array.from({ length: MAX_DEATHS }, (_, i) => ({
      count: i + 1,
      reason: 'expired',
      queue: `ns.retry.${i}s-${'q'.repeat(2_000)}`,
      time: { '!': 'timestamp', value: 1_767_225_600 - i },
      'routing-keys': ['a'],
    }));
    const headers = copy({ 'x-death': deaths, ...sized('foreign', 40_000) });
    expectFits(headers);
    expect(headers).not.toHaveProperty('foreign');
    expect(headers['x-death']).toEqual(deaths);

    // Even without the foreign header and with one x-death entry, this does not fit: a carried one goes too.
    const crowded = copy({ 'x-death': deaths, ...sized('x-warren-future', 63_000), ...sized('foreign', 10_000) });
    expectFits(crowded);
    expect(crowded['x-death']).toEqual([deaths[0]]);
    expect(crowded).not.toHaveProperty('x-warren-future');
    expect(crowded[HEADERS.droppedHeaders]).toEqual(['foreign', 'x-death', 'x-warren-future']);
  });

  it(`keeps at most ${MAX_DEATHS} x-death entries, only tables, and no x-death that is not an array`, () => {
    const deaths = Array.from({ length: 40 }, (_, i) => ({ count: i, queue: `q${i}` }));
    const headers = copy({ 'x-death': ['junk', ...deaths] });
    expect(headers['x-death']).toEqual(deaths.slice(0, MAX_DEATHS));
    expect(headers[HEADERS.droppedHeaders]).toEqual(['x-death']);
    expect(copy({ 'x-death': 'nonsense' })).not.toHaveProperty('x-death');
  });

  it('shortens the stack, then the message, by bytes, when even warren’s own context is over the budget', () => {
    const error = new Error('é'.repeat(MAX_MESSAGE_CHARS));
    error.stack = '日'.repeat(MAX_STACK_CHARS);
    const budget = 4_000;
    const headers = copy({ foreign: 'x'.repeat(500) }, { error, maxHeaderBytes: budget });
    expectFits(headers, budget);
    expect(amqplibTableBytes(headers)).toBeGreaterThan(budget - 10); // cut no more than needed
    expect(headers[HEADERS.droppedHeaders]).toEqual(['foreign', HEADERS.errorStack]);
    const stack = String(headers[HEADERS.errorStack]);
    expect(stack).toMatch(/^日+…$/);
    expect(headers[HEADERS.errorMessage]).toBe('é'.repeat(MAX_MESSAGE_CHARS));

    const tiny = copy({}, { error, maxHeaderBytes: 2_000 });
    expectFits(tiny, 2_000);
    expect(tiny[HEADERS.errorStack]).toBe('');
    expect(String(tiny[HEADERS.errorMessage])).toMatch(/^é+…$/);
    expect(tiny[HEADERS.droppedHeaders]).toEqual([HEADERS.errorStack, HEADERS.errorMessage]);
  });

  it('truncates long errors by characters without cutting a surrogate pair in two', () => {
    const error = new Error('🐇'.repeat(MAX_MESSAGE_CHARS));
    error.name = 'N'.repeat(1_000);
    const headers = copy({}, { error });
    const message = String(headers[HEADERS.errorMessage]);
    expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(message).toMatch(/^(🐇)+…$/u);
    expect(String(headers[HEADERS.errorName])).toHaveLength(200);
  });

  it('keeps the record across copies, adds to it, and bounds it', () => {
    const first = copy(sized('big', 64_000));
    expect(first[HEADERS.droppedHeaders]).toEqual(['big']);
    // The next copy is made from what the broker delivers: the copy's headers, decoded.
    const second = copy({ ...roundTrip(first), ...sized('other', 64_000) }, { outcome: 'retry' });
    expect(second[HEADERS.droppedHeaders]).toEqual(['big', 'other']);
    const third = copy(roundTrip(second));
    expect(third[HEADERS.droppedHeaders]).toEqual(['big', 'other']);

    const full = Array.from({ length: MAX_DROPPED_NAMES - 1 }, (_, i) => `old-${i}`).concat('…');
    const bounded = copy({ [HEADERS.droppedHeaders]: full, ...sized('new', 64_000) });
    expect(bounded[HEADERS.droppedHeaders]).toEqual(full);
    expect(copy({ [HEADERS.droppedHeaders]: [...full.slice(0, 3), '…'] })[HEADERS.droppedHeaders]).toEqual([
      ...full.slice(0, 3),
      '…',
    ]);
    // A record that is no list of names is not carried; a name no header could have is not believed.
    expect(copy({ [HEADERS.droppedHeaders]: 'x'.repeat(60_000) })).not.toHaveProperty([HEADERS.droppedHeaders]);
    expect(copy({ [HEADERS.droppedHeaders]: ['ok', 'n'.repeat(300)] })[HEADERS.droppedHeaders]).toEqual(['ok']);
  });

  it('always fits, whatever mix of headers the original held (seeded random originals)', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
    const value = (): unknown =>
      pick([
        () => 'a'.repeat(Math.floor(random() * 30_000)),
        () => '日'.repeat(Math.floor(random() * 15_000)),
        () => Math.floor(random() * 2 ** 40),
        () => Array.from({ length: Math.floor(random() * 3_000) }, () => 'item'),
        () => ({ nested: 'b'.repeat(Math.floor(random() * 20_000)) }),
        () => Buffer.alloc(Math.floor(random() * 20_000)),
        () => NaN,
      ])();
    for (let round = 0; round < 200; round += 1) {
      const previous: Record<string, unknown> = {};
      const count = 1 + Math.floor(random() * 8);
      for (let i = 0; i < count; i += 1) previous[pick(['h', 'x-warren-h', 'x-first-death-h', 'CC']) + i] = value();
      const outcome = pick(['retry', 'exhausted', 'non_retryable'] as const);
      const headers = copy(previous, { outcome });
      expectFits(headers);
      for (const name of Object.keys(previous)) {
        const recorded = (headers[HEADERS.droppedHeaders] as string[] | undefined) ?? [];
        if (!(name in headers)) expect(recorded.includes(name) || recorded.includes('…'), name).toBe(true);
      }
    }
  });
});

describe('failureHeaders: warren headers from the original are validated, not trusted', () => {
  it.each([
    ['"abc"', 'abc'],
    ['-1', -1],
    ['2.5', 2.5],
    ['a table', { n: 1 }],
    ['2^53', 2 ** 53],
  ])('writes a correct attempt over an original x-warren-attempt of %s', (_name, value) => {
    expect(copy({ [HEADERS.attempt]: value }, { attempt: 1 })[HEADERS.attempt]).toBe(1);
    expect(copy({ [HEADERS.attempt]: value }, { attempt: 1, outcome: 'retry' })[HEADERS.attempt]).toBe(2);
  });

  it('reads the attempt from the original when the one it is given is no attempt number', () => {
    for (const attempt of [NaN, 0, -1, 2.5, 2 ** 53]) {
      expect(copy({ [HEADERS.attempt]: 4 }, { attempt })[HEADERS.attempt]).toBe(4);
      expect(copy({ [HEADERS.attempt]: 'abc' }, { attempt, outcome: 'retry' })[HEADERS.attempt]).toBe(2);
    }
  });

  it.each([
    ['garbage', 'yesterday'],
    ['an impossible date', '2026-02-30T00:00:00.000Z'],
    ['a number', 1_767_225_600_000],
    ['a table', { at: '2026-01-01T00:00:00.000Z' }],
    ['a time after this failure', '2027-01-01T00:00:00.000Z'],
  ])('starts the first-failure time at this failure over an original one that is %s', (_name, value) => {
    const headers = copy({ [HEADERS.firstFailureAt]: value });
    expect(headers[HEADERS.firstFailureAt]).toBe(NOW.toISOString());
    expect(headers[HEADERS.lastFailureAt]).toBe(NOW.toISOString());
  });

  it('keeps a valid earlier first-failure time, and writes an AMQP timestamp as ISO 8601', () => {
    expect(copy({ [HEADERS.firstFailureAt]: '2026-01-01T00:00:00.000Z' })[HEADERS.firstFailureAt]).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(copy({ [HEADERS.firstFailureAt]: { '!': 'timestamp', value: 1_767_225_600 } })[HEADERS.firstFailureAt]).toBe(
      '2026-01-01T00:00:00.000Z',
    );
  });

  it('rewrites every field of the error context, whatever the original held', () => {
    const forged = {
      [HEADERS.reason]: 'forged',
      [HEADERS.errorName]: { x: 1 },
      [HEADERS.errorStack]: 'x'.repeat(60_000),
      [HEADERS.originalQueue]: 'elsewhere',
      [HEADERS.workerPid]: -1,
      'x-delivery-count': 'abc',
    };
    const retry = copy(forged, { outcome: 'retry' });
    expectFits(retry);
    expect(retry).not.toHaveProperty([HEADERS.reason]);
    expect(retry).not.toHaveProperty('x-delivery-count');
    expect(retry).toMatchObject({
      [HEADERS.errorName]: 'Error',
      [HEADERS.originalQueue]: 'ns.job.a',
      [HEADERS.workerPid]: process.pid,
    });
    expect(retry).not.toHaveProperty([HEADERS.droppedHeaders]);
    expect(copy(forged)[HEADERS.reason]).toBe('exhausted');
  });

  it('drops carried warren headers that are invalid, and records them; keeps valid ones', () => {
    const headers = copy({
      [HEADERS.dueAt]: 'soon',
      [HEADERS.schedule]: { name: 'nightly' },
      [HEADERS.replayOf]: '',
    });
    expect(headers).not.toHaveProperty([HEADERS.dueAt]);
    expect(headers).not.toHaveProperty([HEADERS.schedule]);
    expect(headers).not.toHaveProperty([HEADERS.replayOf]);
    expect(headers[HEADERS.droppedHeaders]).toEqual([HEADERS.dueAt, HEADERS.schedule, HEADERS.replayOf]);
    const valid = {
      [HEADERS.dueAt]: '2026-01-01T00:00:00.000Z',
      [HEADERS.schedule]: 'nightly',
      [HEADERS.replayOf]: 'm|2026-01-01T00:00:00.000Z',
    };
    expect(copy(valid)).toMatchObject(valid);
  });

  it('survives an error whose name and message are no strings', () => {
    const error = new Error('x');
    Object.defineProperty(error, 'name', { value: 42 });
    Object.defineProperty(error, 'message', { value: { detail: 1 } });
    error.stack = undefined;
    const headers = copy({}, { error });
    expect(headers).toMatchObject({ [HEADERS.errorName]: '42', [HEADERS.errorStack]: '' });
    expectFits(headers);
  });
});
