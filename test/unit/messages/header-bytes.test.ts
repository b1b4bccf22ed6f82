import { describe, expect, it } from 'vitest';
import { entryBytes, tableBytes } from '../../../src/messages/header-bytes.js';
import { MAX_HEADER_TABLE_BYTES } from '../../../src/messages/headers.js';
import { amqplibEncodesHeaders, amqplibTableBytes, decodeRaw, roundTrip } from './amqplib-codec.js';

/** Values of every kind amqplib encodes, and of every kind it throws on. */
const VALUES: Record<string, unknown> = {
  empty: '',
  ascii: 'plain text',
  accents: 'café crème',
  cjk: '日本語のテキスト',
  emoji: '🐇🥕 ok',
  loneSurrogate: '\ud800x',
  zero: 0,
  negativeZero: -0,
  byte: 127,
  byteMin: -128,
  short: 128,
  shortMin: -129,
  int: 40_000,
  intMax: 2 ** 31 - 1,
  long: 2 ** 31,
  longNegative: -(2 ** 31) - 1,
  safe: Number.MAX_SAFE_INTEGER,
  beyondSafe: 2 ** 53,
  huge: 2 ** 62,
  int64Limit: 2 ** 63,
  int64Min: -(2 ** 63),
  fraction: 2.5,
  negativeFraction: -0.001,
  bigFraction: 2 ** 49 + 0.5,
  infinity: Infinity,
  true: true,
  false: false,
  null: null,
  buffer: Buffer.from([1, 2, 3, 0xff]),
  emptyArray: [],
  array: [1, 'two', [3, { four: 4 }], null, true, 2.5],
  table: { a: 1, nested: { b: 'deep', c: [Buffer.from('x')] } },
  emptyTable: {},
  timestamp: { '!': 'timestamp', value: 1_767_225_600 },
  decimal: { '!': 'decimal', value: { places: 2, digits: 12345 } },
  float: { '!': 'float', value: 1.5 },
  double: { '!': 'double', value: 1 },
  int8: { '!': 'int8', value: -5 },
  uint8: { '!': 'uint8', value: 200 },
  int16: { '!': 'int16', value: -300 },
  uint16: { '!': 'uint16', value: 60_000 },
  int32: { '!': 'int32', value: 5 },
  uint32: { '!': 'uint32', value: 4_000_000_000 },
  int64: { '!': 'int64', value: 5 },
  int64Big: { '!': 'int64', value: 2n ** 62n },
  typedString: { '!': 'string', value: 'typed' },
  typedBoolean: { '!': 'boolean', value: 0 },
  typedNumber: { '!': 'number', value: 70_000 },
  typedObject: { '!': 'object', value: { x: 1 } },
  date: new Date(0),
  wideName: { ['n'.repeat(255)]: 1 },
};

/** Values amqplib throws on: a copy carrying one of them could never be published. */
const UNENCODABLE: Record<string, unknown> = {
  nan: NaN,
  minusInfinity: -Infinity,
  belowInt64: -(2 ** 64),
  bigint: 10n,
  undefinedInArray: [1, undefined],
  symbol: Symbol('s'),
  function: () => 1,
  unknownType: { '!': 'abc' },
  unknownTypeNested: { inner: { '!': 'abc', value: 1 } },
  badTimestamp: { '!': 'timestamp', value: -1 },
  badDecimal: { '!': 'decimal', value: { places: 300, digits: 1 } },
  badInt8: { '!': 'int8', value: 1_000 },
  longName: { ['n'.repeat(256)]: 1 },
  longUnicodeName: { ['é'.repeat(128)]: 1 },
};

describe('tableBytes: the encoded size of a header table, as amqplib writes it', () => {
  it.each(Object.entries(VALUES))('is exact for %s, and its upper bound is at least that', (name, value) => {
    const table = { [name]: value };
    const actual = amqplibTableBytes(table);
    expect(actual).toBeTypeOf('number');
    expect(tableBytes(table, true)).toBe(actual);
    expect(tableBytes(table)).toBeGreaterThanOrEqual(actual as number);
  });

  it.each(Object.entries(UNENCODABLE))('is Infinity for %s, which amqplib throws on', (name, value) => {
    const table = { [name]: value };
    expect(amqplibTableBytes(table)).toBeInstanceOf(Error);
    expect(tableBytes(table, true)).toBe(Infinity);
    expect(tableBytes(table)).toBe(Infinity);
  });

  it('is exact for a table of everything together, and for what amqplib decodes back from it', () => {
    expect(tableBytes(VALUES, true)).toBe(amqplibTableBytes(VALUES));
    const decoded = roundTrip(VALUES);
    expect(tableBytes(decoded, true)).toBe(amqplibTableBytes(decoded));
  });

  it('counts bytes, not characters: 3 per CJK character, 4 per emoji, and the bound never below', () => {
    const cjk = { h: '日'.repeat(1_000) };
    const emoji = { h: '🐇'.repeat(1_000) };
    expect(tableBytes(cjk, true)).toBe(4 + 1 + 1 + 1 + 4 + 3_000);
    expect(tableBytes(emoji, true)).toBe(4 + 1 + 1 + 1 + 4 + 4_000);
    expect(tableBytes(emoji)).toBeGreaterThanOrEqual(tableBytes(emoji, true));
    expect(tableBytes({ 日本: 1 }, true)).toBe(4 + 1 + 6 + 2);
  });

  it('skips undefined values at the top of a table, as amqplib does', () => {
    expect(tableBytes({ a: undefined, b: 1 }, true)).toBe(amqplibTableBytes({ a: undefined, b: 1 }));
    expect(entryBytes('b', 1, true)).toBe(4);
  });

  it("is Infinity for a nested table with a '!' key that another client sent (amqplib cannot send it on)", () => {
    // key "t", field table (F) of 10 bytes: key "!" as a long string "abc".
    const raw = Buffer.concat([
      Buffer.from([1, 0x74, 0x46, 0, 0, 0, 10, 1, 0x21, 0x53, 0, 0, 0, 3]),
      Buffer.from('abc'),
    ]);
    const decoded = decodeRaw(raw);
    expect(decoded).toEqual({ t: { '!': 'abc' } });
    expect(amqplibTableBytes(decoded)).toBeInstanceOf(Error);
    expect(tableBytes(decoded, true)).toBe(Infinity);
  });

  it(`matches amqplib's limit: a table of ${MAX_HEADER_TABLE_BYTES} bytes publishes, one byte more does not`, () => {
    const table = (bytes: number) => ({ h: 'a'.repeat(bytes - 11) });
    expect(tableBytes(table(MAX_HEADER_TABLE_BYTES), true)).toBe(MAX_HEADER_TABLE_BYTES);
    expect(amqplibEncodesHeaders(table(MAX_HEADER_TABLE_BYTES))).toBe(true);
    expect(amqplibEncodesHeaders(table(MAX_HEADER_TABLE_BYTES + 1))).toMatchObject({
      name: 'RangeError',
      message: expect.stringMatching(/exceeds the 65536 byte encoding buffer/),
    });
  });
});
