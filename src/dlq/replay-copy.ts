import type { Options } from 'amqplib';
import { FAILURE_CONTEXT_HEADERS, HEADERS, JSON_CONTENT_TYPE } from '../messages/headers.js';
import { TRACE_HEADERS } from '../tracing/trace-attributes.js';
import type { DeadLetterMessage } from './dead-letter-context.js';

/** The parts of a dead letter its replayed copy is built from (an amqplib `Message` fits). */
export interface ReplaySource extends DeadLetterMessage {
  readonly properties: DeadLetterMessage['properties'] & {
    readonly contentEncoding?: unknown;
    readonly correlationId?: unknown;
    readonly appId?: unknown;
    readonly priority?: unknown;
  };
}

/** warren's failure context: a replayed job starts again at attempt 1, with no earlier failure recorded. */
// A suspect's mark goes too: the replayed job has not been handed back by a crash. So does the dead letter's trace
// context: a replay starts a new trace (linked to the dead letter's when the replay is traced), traced or not.
const FAILURE_HEADERS: ReadonlySet<string> = new Set([
  ...FAILURE_CONTEXT_HEADERS,
  HEADERS.replayOf,
  HEADERS.suspect,
  ...TRACE_HEADERS,
]);

/** The broker's dead-lettering and redelivery bookkeeping, which belongs to the dead letter, not to its copy. */
function isBrokerBookkeeping(name: string): boolean {
  return (
    name === 'x-death' ||
    name === 'x-delivery-count' ||
    name.startsWith('x-first-death-') ||
    name.startsWith('x-last-death-') ||
    // Sender-selected distribution of an earlier publish (RabbitMQ strips BCC, never CC).
    name === 'CC' ||
    name === 'BCC'
  );
}

/**
 * The message a dead letter is replayed as: the same body, message id, content type, type and timestamp; its own
 * headers without warren's failure context, the broker's `x-death` / `x-delivery-count` bookkeeping (so the
 * handler sees attempt 1) and the trace context (`traceparent`, `tracestate`), plus `x-warren-replay-of` =
 * `identity`. Persistent. Pure.
 */
export function replayCopy(message: ReplaySource, identity: string): { content: Buffer; properties: Options.Publish } {
  const { properties } = message;
  const source =
    typeof properties.headers === 'object' && properties.headers !== null
      ? (properties.headers as Record<string, unknown>)
      : {};
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(source)) {
    if (!FAILURE_HEADERS.has(name) && !isBrokerBookkeeping(name)) headers[name] = value;
  }
  headers[HEADERS.replayOf] = identity;
  const publish: Options.Publish = { persistent: true, headers };
  if (typeof properties.messageId === 'string') publish.messageId = properties.messageId;
  if (typeof properties.type === 'string') publish.type = properties.type;
  if (typeof properties.timestamp === 'number') publish.timestamp = properties.timestamp;
  if (typeof properties.contentType === 'string') publish.contentType = properties.contentType;
  if (typeof properties.contentEncoding === 'string') publish.contentEncoding = properties.contentEncoding;
  if (typeof properties.correlationId === 'string') publish.correlationId = properties.correlationId;
  if (typeof properties.appId === 'string') publish.appId = properties.appId;
  if (typeof properties.priority === 'number') publish.priority = properties.priority;
  return { content: message.content, properties: publish };
}

/**
 * A replay copy with another body (edit and replay): the JSON `body` instead of the dead letter's, published as
 * `application/json` without a content encoding; everything else as {@link replayCopy} made it. Pure.
 */
export function withBody(
  copy: { content: Buffer; properties: Options.Publish },
  body: Buffer,
): { content: Buffer; properties: Options.Publish } {
  const { contentEncoding: _encoding, ...properties } = copy.properties;
  return { content: body, properties: { ...properties, contentType: JSON_CONTENT_TYPE } };
}
