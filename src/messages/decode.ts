import type { ConsumeMessage } from 'amqplib';

/** A delivery's body, decoded, or why it could not be. */
export type Decoded = { readonly ok: true; readonly payload: unknown } | { readonly ok: false; readonly error: string };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/**
 * Decodes a delivery's JSON body. A missing content type is taken as JSON (the wire contract lets plain
 * AMQP clients omit it); any other non-JSON content type or encoding is refused.
 */
export function decodeBody(message: Pick<ConsumeMessage, 'content' | 'properties'>): Decoded {
  const { contentType, contentEncoding } = message.properties as { contentType?: string; contentEncoding?: string };
  if (
    contentType !== undefined &&
    contentType !== '' &&
    contentType !== 'application/json' &&
    !JSON_TYPE.test(contentType)
  ) {
    return { ok: false, error: `content type ${JSON.stringify(contentType)} is not JSON (expected application/json)` };
  }
  if (contentEncoding !== undefined && contentEncoding !== '' && !/^(identity|utf-?8)$/i.test(contentEncoding)) {
    return { ok: false, error: `content encoding ${JSON.stringify(contentEncoding)} is not supported` };
  }
  try {
    return { ok: true, payload: JSON.parse(message.content.toString('utf8')) };
  } catch (error) {
    return { ok: false, error: `body is not valid JSON: ${(error as Error).message}` };
  }
}
