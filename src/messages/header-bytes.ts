/**
 * The size of a header table as amqplib 2.x encodes it (`lib/codec.js`), without encoding it: warren checks that a
 * retry or dead-letter copy fits before it publishes one (see {@link MAX_HEADER_TABLE_BYTES}).
 *
 * Two modes share one walk. `exact` gives the encoded size in bytes. The default, an upper bound, counts every
 * UTF-16 code unit of a string as 3 bytes (its most in UTF-8: a surrogate pair is 4 bytes for 2 units) and so
 * avoids measuring strings; when the bound is within the limit, the table certainly fits. Either mode answers
 * `Infinity` for a value amqplib cannot encode at all (it throws): `NaN`, `-Infinity`, an integer below −2^63, a
 * bigint, `undefined` in an array, a name over 255 bytes, an object with a `'!'` key that is no type amqplib knows.
 *
 * @module
 */

/** The most bytes one UTF-16 code unit takes in UTF-8. */
const UTF8_MAX_PER_UNIT = 3;
/** A table or array field's own length prefix. */
const LENGTH_PREFIX = 4;
/** amqplib encodes a number of at least this magnitude as a 64-bit integer, a smaller one with a fraction as a double. */
const FLOAT_LIMIT = 0x4000000000000;
const INT64_MIN = -0x8000000000000000;
const INT64_LIMIT = 0x8000000000000000;

/**
 * The encoded size of a header table (its 4-byte length prefix included): exact, or (the default) an upper bound
 * that does not measure strings. `Infinity` when amqplib could not encode it.
 */
export function tableBytes(table: Readonly<Record<string, unknown>>, exact = false): number {
  let bytes = LENGTH_PREFIX;
  // amqplib walks tables with for…in and skips undefined values.
  for (const name in table) {
    const value = table[name];
    if (value !== undefined) bytes += entryBytes(name, value, exact);
  }
  return bytes;
}

/** The encoded size of one `name: value` entry of a table: exact, or an upper bound. `Infinity` when not encodable. */
export function entryBytes(name: string, value: unknown, exact = false): number {
  return 1 + nameBytes(name, exact) + fieldBytes(value, exact);
}

function nameBytes(name: string, exact: boolean): number {
  // A name is a short string: at most 255 bytes (amqplib's writeUInt8 throws beyond).
  if (!exact && name.length * UTF8_MAX_PER_UNIT <= 255) return name.length * UTF8_MAX_PER_UNIT;
  const bytes = Buffer.byteLength(name, 'utf8');
  return bytes <= 255 ? bytes : Infinity;
}

function stringBytes(text: string, exact: boolean): number {
  return 5 + (exact ? Buffer.byteLength(text, 'utf8') : text.length * UTF8_MAX_PER_UNIT);
}

/** One field value with its type tag, as amqplib's `encodeFieldValue` writes it. */
function fieldBytes(value: unknown, exact: boolean): number {
  let type: unknown = typeof value;
  let val = value;
  // amqplib's trapdoor for a chosen type (`{ '!': 'timestamp', value }`): any object with an own '!' key.
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '!')) {
    type = (value as { '!': unknown })['!'];
    val = (value as { value?: unknown }).value;
  }
  switch (type) {
    case 'string':
      return typeof val === 'string' ? stringBytes(val, exact) : Infinity;
    case 'number':
      return typeof val === 'number' ? numberBytes(val) : Infinity;
    case 'boolean':
      return 2;
    case 'object':
      return objectBytes(val, exact);
    case 'double':
    case 'float64':
      return typeof val === 'number' ? 9 : Infinity;
    case 'float':
      return typeof val === 'number' ? 5 : Infinity;
    case 'byte':
    case 'int8':
      return integerIn(val, -0x80, 0x7f) ? 2 : Infinity;
    case 'unsignedbyte':
    case 'uint8':
      return integerIn(val, 0, 0xff) ? 2 : Infinity;
    case 'short':
    case 'int16':
      return integerIn(val, -0x8000, 0x7fff) ? 3 : Infinity;
    case 'unsignedshort':
    case 'uint16':
      return integerIn(val, 0, 0xffff) ? 3 : Infinity;
    case 'int':
    case 'int32':
      return integerIn(val, -0x80000000, 0x7fffffff) ? 5 : Infinity;
    case 'unsignedint':
    case 'uint32':
      return integerIn(val, 0, 0xffffffff) ? 5 : Infinity;
    case 'long':
    case 'int64':
      return int64(val) ? 9 : Infinity;
    case 'timestamp':
      return uint64(val) ? 9 : Infinity;
    case 'decimal':
      return decimal(val) ? 6 : Infinity;
    default:
      // bigint, undefined (in an array), symbol, function, or a '!' type amqplib does not know: it throws.
      return Infinity;
  }
}

/** A JS number, typed the way amqplib guesses: a double, or the smallest signed integer that holds it. */
function numberBytes(n: number): number {
  if (n >= INT64_LIMIT || (Math.abs(n) < FLOAT_LIMIT && Math.floor(n) !== n)) return 9;
  if (n >= -0x80 && n < 0x80) return 2;
  if (n >= -0x8000 && n < 0x8000) return 3;
  if (n >= -0x80000000 && n < 0x80000000) return 5;
  // A long: BigInt(n) throws for NaN and -Infinity, and writeBigInt64BE below −2^63.
  return Number.isInteger(n) && n >= INT64_MIN ? 9 : Infinity;
}

function objectBytes(val: unknown, exact: boolean): number {
  if (val === null) return 1;
  if (Buffer.isBuffer(val)) return 1 + LENGTH_PREFIX + val.length;
  if (Array.isArray(val)) {
    let bytes = 1 + LENGTH_PREFIX;
    for (const item of val) bytes += fieldBytes(item, exact);
    return bytes;
  }
  if (typeof val !== 'object') return Infinity;
  return 1 + tableBytes(val as Record<string, unknown>, exact);
}

function integerIn(val: unknown, min: number, max: number): boolean {
  return typeof val === 'number' && Number.isInteger(val) && val >= min && val <= max;
}

function int64(val: unknown): boolean {
  if (typeof val === 'bigint') return val >= -(2n ** 63n) && val < 2n ** 63n;
  return typeof val === 'number' && Number.isInteger(val) && val >= INT64_MIN && val < INT64_LIMIT;
}

function uint64(val: unknown): boolean {
  if (typeof val === 'bigint') return val >= 0n && val < 2n ** 64n;
  return typeof val === 'number' && Number.isInteger(val) && val >= 0 && val < 2 ** 64;
}

function decimal(val: unknown): boolean {
  if (typeof val !== 'object' || val === null) return false;
  const { places, digits } = val as { places?: unknown; digits?: unknown };
  return (
    Object.hasOwn(val, 'places') &&
    Object.hasOwn(val, 'digits') &&
    integerIn(places, 0, 255) &&
    integerIn(digits, 0, 0xffffffff)
  );
}
