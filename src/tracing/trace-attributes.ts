/**
 * The one place the names of warren's spans, their attributes and the trace headers are spelled. The `messaging.*`,
 * `server.*` and `error.type` names are those of the OpenTelemetry semantic conventions for messaging (RabbitMQ);
 * `warren.*` are warren's own. Pure.
 *
 * @module
 */

/** The name of warren's tracer: the instrumentation scope of every span it starts. */
export const TRACER_NAME = 'warren';

/** Every attribute name warren sets on a span. */
export const TRACE_ATTRIBUTES = Object.freeze({
  /** Always `rabbitmq`. */
  messagingSystem: 'messaging.system',
  /** `send` on a publish, `process` on a delivery. */
  operationType: 'messaging.operation.type',
  /** `publish` on a publish, `process` on a delivery. */
  operationName: 'messaging.operation.name',
  /** The exchange published to, or the exchange the delivery came through. */
  destinationName: 'messaging.destination.name',
  /** On a delivery: the queue consumed. */
  subscriptionName: 'messaging.destination.subscription.name',
  routingKey: 'messaging.rabbitmq.destination.routing_key',
  /** On a delivery. */
  deliveryTag: 'messaging.rabbitmq.message.delivery_tag',
  /** The AMQP `message_id` (the job id), when the message has one. */
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  /** The broker node the connection is on, when it is up. */
  serverAddress: 'server.address',
  serverPort: 'server.port',
  /** On failure: the error's warren code (`WARREN_ERR_…`), else its name. */
  errorType: 'error.type',
  jobType: 'warren.job_type',
  /** On a publish, the attempt the message is (a retry copy: the next one); on a delivery, the attempt it runs. */
  attempt: 'warren.attempt',
  /** On a delivery: how it ended (see `PROCESS_OUTCOMES`). */
  outcome: 'warren.outcome',
  /** On a retried delivery: the tier it waits in (`1s`, `30s`, …) and its delay. */
  retryTier: 'warren.retry.tier',
  retryDelayMs: 'warren.retry.delay_ms',
  /** On a dead-lettered delivery: why (`exhausted`, `non_retryable`, `invalid_payload`, …). */
  deadLetterReason: 'warren.dead_letter.reason',
  /** On a failed delivery that ran past its timeout. */
  timedOut: 'warren.timed_out',
  /** On a cron fire: the schedule's name and the fire time (ISO 8601). */
  schedule: 'warren.schedule',
  fireTime: 'warren.fire_time',
});

/** How a delivery's process span says it ended (`warren.outcome`). */
export const PROCESS_OUTCOMES = [
  'success',
  'retry',
  'dead',
  'invalid',
  'duplicate',
  'requeued',
  'deferred',
  'held',
] as const;

/** How a delivery ended, as its process span says. */
export type ProcessSpanOutcome = (typeof PROCESS_OUTCOMES)[number];

/** `messaging.system`. */
export const MESSAGING_SYSTEM = 'rabbitmq';

/** The API's `SpanKind` values (stable since API 1.0). */
export const SPAN_KIND = Object.freeze({ internal: 0, producer: 3, consumer: 4 });

/** The API's `SpanStatusCode.ERROR`. */
export const STATUS_ERROR = 2;

/**
 * The W3C trace context headers. A copy warren publishes (a retry, a dead letter, a replay) carries its original's
 * headers: these are removed before the copy's own are written, so that it never claims the original's span.
 */
export const TRACE_HEADERS: readonly string[] = Object.freeze(['traceparent', 'tracestate']);

/** Span names: `{operation} {destination}`, and a cron fire's. */
export const SPAN_NAMES = Object.freeze({
  publish: (exchange: string) => `publish ${exchange}`,
  process: (queue: string) => `process ${queue}`,
  fire: (schedule: string) => `fire ${schedule}`,
});

/** The last node's attributes: a connection stays on one node, and every span of it asks. */
let lastServer: { readonly node: string; readonly attributes: Readonly<Record<string, string | number>> } | undefined;

/**
 * `server.address` and `server.port` of a node given as `host:port` (IPv6 hosts in brackets); none when down. The
 * same (frozen) object for the same node, asked again.
 */
export function serverAttributes(node: string | undefined): Readonly<Record<string, string | number>> {
  if (node === undefined) return NO_SERVER;
  if (lastServer?.node === node) return lastServer.attributes;
  const attributes = Object.freeze(parseServer(node));
  lastServer = { node, attributes };
  return attributes;
}

const NO_SERVER: Readonly<Record<string, string | number>> = Object.freeze({});

function parseServer(node: string): Record<string, string | number> {
  const colon = node.lastIndexOf(':');
  const port = Number(node.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(port)) return { [TRACE_ATTRIBUTES.serverAddress]: node };
  return {
    [TRACE_ATTRIBUTES.serverAddress]: node.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    [TRACE_ATTRIBUTES.serverPort]: port,
  };
}

/** `error.type` of an error: its stable warren code when it has one, else its name. */
export function errorType(error: Error): string {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && code !== '' ? code : error.name || 'Error';
}
