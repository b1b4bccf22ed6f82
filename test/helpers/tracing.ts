import { context, propagation, trace, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** An OpenTelemetry SDK registered globally, as an application's would be, exporting into memory. */
export interface TestTracing {
  readonly provider: BasicTracerProvider;
  readonly exporter: InMemorySpanExporter;
  /** The spans finished so far. */
  spans(): ReadableSpan[];
  /** Unregisters the provider, the propagator and the context manager, and shuts the provider down. */
  uninstall(): Promise<void>;
}

/** What to register: all three by default (a test of what happens without one leaves it out). */
export interface TestTracingOptions {
  readonly provider?: boolean;
  readonly propagator?: boolean;
  readonly contextManager?: boolean;
}

/**
 * Registers a `BasicTracerProvider` with an in-memory exporter (SDK 2.x), the W3C trace context propagator and the
 * AsyncLocalStorage context manager, the way an application (or NodeSDK) does before it starts warren.
 */
export function installTracing(options: TestTracingOptions = {}): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  if (options.contextManager !== false) context.setGlobalContextManager(contextManager.enable());
  if (options.propagator !== false) propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (options.provider !== false) trace.setGlobalTracerProvider(provider);
  return {
    provider,
    exporter,
    spans: () => exporter.getFinishedSpans(),
    async uninstall() {
      trace.disable();
      propagation.disable();
      context.disable();
      contextManager.disable();
      await provider.shutdown();
    },
  };
}

/** The span id a finished span's parent has, or `undefined` for a root (SDK 2.x: `parentSpanContext`). */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** `traceparent` for a span context, as the W3C propagator writes it. */
export function traceparentOf(spanContext: Pick<SpanContext, 'traceId' | 'spanId'>): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-01`;
}

/** A span tree as text, one span a line, children indented under their parent: for assertion messages. */
export function describeSpans(spans: readonly ReadableSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    const children = spans
      .filter((s) => (parent === undefined ? !ids.has(parentOf(s) ?? '') : parentOf(s) === parent))
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    for (const span of children) {
      const { outcome, attempt } = {
        outcome: span.attributes['warren.outcome'],
        attempt: span.attributes['warren.attempt'],
      };
      lines.push(
        `${'  '.repeat(depth)}${span.name} [${span.spanContext().traceId.slice(0, 8)}/${span.spanContext().spanId}]` +
          `${attempt === undefined ? '' : ` attempt=${String(attempt)}`}${outcome === undefined ? '' : ` outcome=${String(outcome)}`}`,
      );
      walk(span.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}
