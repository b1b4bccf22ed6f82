import type { ConsumeMessage } from 'amqplib';
import type { DeadLetterReason } from '../messages/headers.js';
import { tierName } from '../topology/names.js';
import { activeTracing, type OpenTelemetryApi, type TraceContext, type TraceSpan } from './otel-api.js';
import {
  MESSAGING_SYSTEM,
  SPAN_KIND,
  SPAN_NAMES,
  STATUS_ERROR,
  TRACE_ATTRIBUTES as A,
  errorType,
  serverAttributes,
  type ProcessSpanOutcome,
} from './trace-attributes.js';
import { HEADER_GETTER } from './trace-headers.js';

/**
 * What a process span needs to know of a delivery's verdict. The consumer's `Verdict` fits it: a verdict of a new
 * kind fails to compile where the consumer hands it over, until it is given an outcome here.
 */
export type SettledVerdict =
  | { readonly kind: 'ack'; readonly outcome: 'success' | 'duplicate' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: Error; readonly timedOut: boolean }
  | { readonly kind: 'dead'; readonly reason: DeadLetterReason; readonly error: Error; readonly timedOut: boolean }
  | { readonly kind: 'give-back' }
  | { readonly kind: 'defer' };

/** The attributes a settled delivery ends its span with, and the error it records (a failed attempt's). */
export interface ProcessOutcome {
  readonly outcome: ProcessSpanOutcome;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly error: Error | undefined;
}

/**
 * How a delivery ended, for its process span: the verdict, and whether the copy it called for (retry tier,
 * dead-letter queue, the back of the queue for a deferred suspect) was confirmed. An unconfirmed copy leaves the
 * delivery with the broker: rejected back to its queue (`requeued`), or, for a suspect, held to run alone later
 * (`held`). Pure.
 */
export function processOutcome(verdict: SettledVerdict, copyConfirmed = true): ProcessOutcome {
  switch (verdict.kind) {
    case 'ack':
      return { outcome: verdict.outcome, attributes: { [A.outcome]: verdict.outcome }, error: undefined };
    case 'give-back':
      return { outcome: 'requeued', attributes: { [A.outcome]: 'requeued' }, error: undefined };
    case 'defer': {
      const outcome = copyConfirmed ? 'deferred' : 'held';
      return { outcome, attributes: { [A.outcome]: outcome }, error: undefined };
    }
    case 'retry': {
      const outcome = copyConfirmed ? 'retry' : 'requeued';
      return {
        outcome,
        attributes: {
          [A.outcome]: outcome,
          [A.retryTier]: tierName(verdict.delayMs),
          [A.retryDelayMs]: verdict.delayMs,
          ...failureAttributes(verdict.error, verdict.timedOut),
        },
        error: verdict.error,
      };
    }
    case 'dead': {
      const outcome = !copyConfirmed ? 'requeued' : verdict.reason === 'invalid_payload' ? 'invalid' : 'dead';
      return {
        outcome,
        attributes: {
          [A.outcome]: outcome,
          [A.deadLetterReason]: verdict.reason,
          ...failureAttributes(verdict.error, verdict.timedOut),
        },
        error: verdict.error,
      };
    }
  }
}

function failureAttributes(error: Error, timedOut: boolean): Record<string, string | boolean> {
  return timedOut ? { [A.errorType]: errorType(error), [A.timedOut]: true } : { [A.errorType]: errorType(error) };
}

/** What a process span reads of a delivery's identity (the consumer's `DeliveryIdentity` fits). */
export interface DeliveryFacts {
  readonly jobId: string;
  /** The message carried its own id (else `jobId` was generated, and is no message id). */
  readonly hasId: boolean;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** The delivery a process span belongs to, found in the active context by its copy's publish. */
interface ProcessRecord {
  /** The delivery's body: its copy publishes this very Buffer. */
  readonly content: Buffer;
  copyFailed: boolean;
}

const PROCESS_RECORD = Symbol('warren process span');

/**
 * Called when a publish fails, with the context it was published in: when that publish was the copy of the delivery
 * being processed there (its body is the delivery's own Buffer), the delivery's span learns that its copy was not
 * confirmed, and ends with the outcome the broker is left with.
 */
export function noteFailedPublish(context: TraceContext, content: Buffer): void {
  const record = context.getValue(PROCESS_RECORD) as ProcessRecord | undefined;
  if (record?.content === content) record.copyFailed = true;
}

/**
 * The span of one delivery (kind CONSUMER, `process <queue>`), while tracing is on: its parent is the trace context
 * in the message's headers (warren's publish span, or any publisher's `traceparent`), or none. `undefined` when no
 * tracer provider is registered: the consumer then takes its untraced path.
 *
 * Positional parameters: the untraced path allocates nothing.
 * @param node `host:port` of the broker node the consuming connection is on, when known.
 */
export function startProcessSpan(
  message: ConsumeMessage,
  delivery: DeliveryFacts,
  queue: string,
  jobType: string,
  node: string | undefined,
): ProcessSpan | undefined {
  const tracing = activeTracing();
  if (tracing === undefined) return undefined;
  const { api, tracer } = tracing;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, delivery.headers, HEADER_GETTER);
  const { exchange, routingKey, deliveryTag } = message.fields;
  const span = tracer.startSpan(
    SPAN_NAMES.process(queue),
    {
      kind: SPAN_KIND.consumer,
      attributes: {
        [A.messagingSystem]: MESSAGING_SYSTEM,
        [A.operationType]: 'process',
        [A.operationName]: 'process',
        [A.destinationName]: exchange,
        [A.subscriptionName]: queue,
        [A.routingKey]: routingKey === '' ? undefined : routingKey,
        [A.deliveryTag]: deliveryTag,
        [A.messageId]: delivery.hasId ? delivery.jobId : undefined,
        [A.bodySize]: message.content.length,
        ...serverAttributes(node),
        [A.jobType]: jobType,
        [A.attempt]: delivery.attempt,
      },
    },
    parent,
  );
  const record: ProcessRecord = { content: message.content, copyFailed: false };
  return new ProcessSpan(api, span, api.trace.setSpan(parent, span).setValue(PROCESS_RECORD, record), record);
}

/**
 * A delivery's span, active while its verdict is decided (the handler runs) and while it is applied (its copy is
 * published), and ended when the delivery is settled, with the outcome.
 */
export class ProcessSpan {
  readonly #api: OpenTelemetryApi;
  readonly #span: TraceSpan;
  readonly #context: TraceContext;
  readonly #record: ProcessRecord;

  /** @internal Made by {@link startProcessSpan}. */
  constructor(api: OpenTelemetryApi, span: TraceSpan, context: TraceContext, record: ProcessRecord) {
    this.#api = api;
    this.#span = span;
    this.#context = context;
    this.#record = record;
  }

  /**
   * Decides the verdict and applies it, both inside the span's context; synchronous when both are (as the untraced
   * path is). Ends the span once `apply` has settled the delivery; a throw or rejection (a bug: the runner turns
   * every failure into a verdict) ends it too, and is passed on.
   */
  run<V extends SettledVerdict>(
    decide: () => V | Promise<V>,
    apply: (verdict: V) => Promise<void> | undefined,
  ): Promise<void> | undefined {
    return this.#api.context.with(this.#context, () => {
      let decided: V | Promise<V>;
      try {
        decided = decide();
      } catch (error) {
        this.#fail(error);
        throw error;
      }
      if (!(decided instanceof Promise)) return this.#apply(decided, apply);
      return decided.then(
        (verdict) => this.#api.context.with(this.#context, () => this.#apply(verdict, apply)),
        (error: unknown) => {
          this.#fail(error);
          throw error;
        },
      );
    });
  }

  #apply<V extends SettledVerdict>(
    verdict: V,
    apply: (verdict: V) => Promise<void> | undefined,
  ): Promise<void> | undefined {
    let applied: Promise<void> | undefined;
    try {
      applied = apply(verdict);
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    if (applied === undefined) {
      this.#end(verdict);
      return undefined;
    }
    return applied.then(
      () => this.#end(verdict),
      (error: unknown) => {
        this.#fail(error);
        throw error;
      },
    );
  }

  #end(verdict: SettledVerdict): void {
    const { attributes, error } = processOutcome(verdict, !this.#record.copyFailed);
    for (const [name, value] of Object.entries(attributes)) this.#span.setAttribute(name, value);
    if (error !== undefined) {
      this.#span.recordException(error);
      this.#span.setStatus({ code: STATUS_ERROR, message: error.message });
    }
    this.#span.end();
  }

  #fail(thrown: unknown): void {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    this.#span.recordException(error);
    this.#span.setAttribute(A.errorType, errorType(error));
    this.#span.setStatus({ code: STATUS_ERROR, message: error.message });
    this.#span.end();
  }
}
