import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// amqplib's own encoder and decoder (not part of its public exports): the header-size model is checked against the
// code that really writes the frames, so an amqplib upgrade that changes the encoding fails these tests.
const require = createRequire(import.meta.url);
const root = dirname(require.resolve('amqplib'));

interface Codec {
  encodeTable(buffer: Buffer, table: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
}
interface Defs {
  readonly BasicProperties: number;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
}

const codec = require(join(root, 'lib/codec.js')) as Codec;
const defs = require(join(root, 'lib/defs.js')) as Defs;
const scratch = Buffer.alloc(4 << 20);

/** The encoded size of a table as amqplib writes it (length prefix included), or the error it throws. */
export function amqplibTableBytes(table: unknown): number | Error {
  try {
    return codec.encodeTable(scratch, table, 0);
  } catch (error) {
    return error as Error;
  }
}

/** Whether amqplib can encode a publish's properties with these headers (what `channel.publish` does first). */
export function amqplibEncodesHeaders(headers: Record<string, unknown>): true | Error {
  try {
    defs.encodeProperties(defs.BasicProperties, 1, 0, { headers, deliveryMode: 2 });
    return true;
  } catch (error) {
    return error as Error;
  }
}

/** Encodes `table` and decodes it again: the headers a consumer would be handed for it. */
export function roundTrip(table: Record<string, unknown>): Record<string, unknown> {
  const size = codec.encodeTable(scratch, table, 0);
  return codec.decodeFields(Buffer.from(scratch.subarray(4, size)));
}

/** Decodes raw field-table bytes (without the length prefix): for values amqplib itself would not write. */
export function decodeRaw(fields: Buffer): Record<string, unknown> {
  return codec.decodeFields(fields);
}
