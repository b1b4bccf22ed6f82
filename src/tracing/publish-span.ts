import type { Options } from 'amqplib';
import { tableBytes } from '../messages/header-bytes.js';
import { MAX_HEADER_TABLE_BYTES } from '../messages/headers.js';
import { readAttempt, readText } from '../messages/read-headers.js';
import { activeTracing, type OpenTelemetryApi, type TraceContext, type TraceLink, type TraceSpan } from './otel-api.js';
import { noteFailedPublish } from './process-span.js';
import {
  MESSAGING_SYSTEM,
  SPAN_KIND,
  SPAN_NAMES,
  STATUS_ERROR,
  TRACE_ATTRIBUTES as A,
  TRACE_HEADERS,
  errorType,
  serverAttributes,
} from './trace-attributes.js';
import { HEADER_GETTER, HEADER_SETTER, type HeaderTable } from './trace-headers.js';

/** How a publish's span stands to other traces: the optional last parameter of `Publisher#send`. */
export interface PublishTrace {
  /** Start a new trace instead of joining the active one (a replay: its dead letter may be days old). */
  readonly root?: boolean;
  /** The headers of a message whose span the publish links to (a replay links to its dead letter's publish). */
  readonly linkTo?: Readonly<Record<string, unknown>>;
}

/**
 * The span of one publish (kind PRODUCER, `publish <exchange>`), child of the active context unless `trace.root`:
 * started before the message is sent, ended by its confirm or its failure. Its trace context travels in the
 * message's `traceparent` / `tracestate` headers, written by the registered propagator into a copy of the headers
 * (the caller's object is not touched; a copy's inherited trace headers are dropped first). `undefined` when no
 * tracer provider is registered: then nothing is made or copied, and the message goes as it was.
 *
 * Positional parameters: the untraced path allocates nothing, not even an argument object.
 * @param node `host:port` of the broker node the publishing connection is on, when known.
 */
export function startPublishSpan(
  exchange: string,
  routingKey: string,
  content: Buffer,
  properties: Options.Publish,
  trace: PublishTrace | undefined,
  node: string | undefined,
): PublishSpan | undefined {
  const tracing = activeTracing();
  if (tracing === undefined) return undefined;
  const { api, tracer } = tracing;
  const parent = api.context.active();
  const headers = properties.headers as Readonly<HeaderTable> | undefined;
  const links = trace?.linkTo === undefined ? undefined : linkFrom(api, trace.linkTo);
  const span = tracer.startSpan(
    SPAN_NAMES.publish(exchange),
    {
      kind: SPAN_KIND.producer,
      attributes: {
        [A.messagingSystem]: MESSAGING_SYSTEM,
        [A.operationType]: 'send',
        [A.operationName]: 'publish',
        [A.destinationName]: exchange,
        [A.routingKey]: routingKey === '' ? undefined : routingKey,
        [A.messageId]: readText(properties.messageId),
        [A.bodySize]: content.length,
        ...serverAttributes(node),
        [A.jobType]: readText(properties.type),
        [A.attempt]: readAttempt(headers) ?? 1,
      },
      ...(links === undefined ? {} : { links }),
      ...(trace?.root === true ? { root: true } : {}),
    },
    parent,
  );
  const traced = tracedHeaders(api, api.trace.setSpan(parent, span), headers);
  return new PublishSpan(span, parent, content, traced === headers ? properties : { ...properties, headers: traced });
}

/** A link to the span whose context a message's headers carry, if they carry a valid one. */
function linkFrom(api: OpenTelemetryApi, headers: Readonly<HeaderTable>): TraceLink[] | undefined {
  const linked = api.trace.getSpanContext(api.propagation.extract(api.ROOT_CONTEXT, headers, HEADER_GETTER));
  return linked !== undefined && api.trace.isSpanContextValid(linked) ? [{ context: linked }] : undefined;
}

/**
 * A copy of `headers` without inherited trace headers (the W3C ones and whatever the registered propagator writes),
 * with the span's context written in. A table that the trace headers would push past the AMQP header limit (a retry
 * copy already cut to fit, say) is sent without them: the message matters more than its trace.
 */
function tracedHeaders(
  api: OpenTelemetryApi,
  context: TraceContext,
  headers: Readonly<HeaderTable> | undefined,
): Readonly<HeaderTable> | undefined {
  const written: HeaderTable = {};
  api.propagation.inject(context, written, HEADER_SETTER);
  // No propagator registered: nothing to write, so the message keeps its headers as they are.
  if (Object.keys(written).length === 0) return headers;
  // A message without headers of its own (most publishes) gets the trace headers alone: nothing to fit.
  if (headers === undefined) return written;
  const copy: HeaderTable = { ...headers };
  for (const name of TRACE_HEADERS) delete copy[name];
  for (const name of api.propagation.fields()) delete copy[name];
  const size = tableBytes(copy) + tableBytes(written) - 4;
  if (size > MAX_HEADER_TABLE_BYTES && tableBytes(copy, true) + tableBytes(written, true) - 4 > MAX_HEADER_TABLE_BYTES)
    return copy;
  return Object.assign(copy, written);
}

/** A started publish span, and the properties to send the message with. */
export class PublishSpan {
  readonly #span: TraceSpan;
  readonly #parent: TraceContext;
  readonly #content: Buffer;
  /** The caller's properties, with headers that carry this span's context. */
  readonly properties: Options.Publish;
  #ended = false;

  /** @internal Made by {@link startPublishSpan}. */
  constructor(span: TraceSpan, parent: TraceContext, content: Buffer, properties: Options.Publish) {
    this.#span = span;
    this.#parent = parent;
    this.#content = content;
    this.properties = properties;
  }

  /** Ends the span: the broker confirmed the message, or (with `error`) the publish failed. Only the first call counts. */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error !== undefined) {
      this.#span.recordException(error);
      this.#span.setAttribute(A.errorType, errorType(error));
      this.#span.setStatus({ code: STATUS_ERROR, message: error.message });
      noteFailedPublish(this.#parent, this.#content);
    }
    this.#span.end();
  }
}
