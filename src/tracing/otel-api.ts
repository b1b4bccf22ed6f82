import { createRequire } from 'node:module';
import { TRACER_NAME } from './trace-attributes.js';

/*
 * `@opentelemetry/api` is an optional peer dependency: warren loads it here, synchronously, on first use, and works
 * without it. The API keeps its registrations (tracer provider, propagator, context manager) in a global, so this
 * copy sees what the application's own copy registered, whichever module format either was loaded as.
 *
 * The types below are the part of the API warren uses, written out here so that no declaration warren publishes
 * names the package (a project without it must still type-check against warren's types with `skipLibCheck: false`).
 * test/unit/tracing/otel-api.test.ts checks that the real API fits them.
 */

/** An attribute value warren sets. */
export type TraceAttributeValue = string | number | boolean;

/** Span attributes; `undefined` values are left out. */
export type TraceAttributes = Readonly<Record<string, TraceAttributeValue | undefined>>;

/** The API's `Context`: immutable, with values under keys made by `createContextKey`. */
export interface TraceContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): TraceContext;
}

/** The API's `SpanContext`: what identifies a span across processes. */
export interface TraceSpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean | undefined;
}

/** A link from a span to another span's context (a replay links to its dead letter's publish). */
export interface TraceLink {
  readonly context: TraceSpanContext;
  readonly attributes?: TraceAttributes;
}

/** The API's `SpanOptions`, as far as warren sets them. */
export interface TraceSpanOptions {
  /** A `SpanKind`: see `SPAN_KIND`. */
  readonly kind?: number;
  readonly attributes?: TraceAttributes;
  readonly links?: TraceLink[];
  /** Start a new trace, whatever the parent context holds. */
  readonly root?: boolean;
}

/** The API's `Span`, as far as warren uses it. */
export interface TraceSpan {
  spanContext(): TraceSpanContext;
  setAttribute(key: string, value: TraceAttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: Error): void;
  isRecording(): boolean;
  end(): void;
}

/** The API's `Tracer`. */
export interface TraceTracer {
  startSpan(name: string, options?: TraceSpanOptions, context?: TraceContext): TraceSpan;
}

/** The API's `TracerProvider`; the global one is a proxy whose delegate is the provider the application registered. */
export interface TraceTracerProvider {
  getTracer(name: string, version?: string): TraceTracer;
}

/** How the propagator reads a carrier (message headers). */
export interface TraceGetter<C> {
  get(carrier: C, key: string): string | string[] | undefined;
  keys(carrier: C): string[];
}

/** How the propagator writes a carrier (message headers). */
export interface TraceSetter<C> {
  set(carrier: C, key: string, value: string): void;
}

/** The part of `@opentelemetry/api` warren uses. */
export interface OpenTelemetryApi {
  readonly trace: {
    getTracerProvider(): TraceTracerProvider & { getDelegate?: () => TraceTracerProvider };
    setSpan(context: TraceContext, span: TraceSpan): TraceContext;
    getSpanContext(context: TraceContext): TraceSpanContext | undefined;
    isSpanContextValid(spanContext: TraceSpanContext): boolean;
  };
  readonly context: {
    active(): TraceContext;
    with<T>(context: TraceContext, fn: () => T): T;
  };
  readonly propagation: {
    inject<C>(context: TraceContext, carrier: C, setter: TraceSetter<C>): void;
    extract<C>(context: TraceContext, carrier: C, getter: TraceGetter<C>): TraceContext;
    fields(): string[];
  };
  readonly ROOT_CONTEXT: TraceContext;
  readonly ProxyTracerProvider: new () => { getDelegate(): TraceTracerProvider };
}

/** The API once loaded, and the provider a proxy hands out while nothing is registered. */
interface Loaded {
  readonly api: OpenTelemetryApi;
  readonly noop: TraceTracerProvider;
}

// Loaded once per process (a failed require is not retried): the hot path asks on every publish and delivery.
let loaded: Loaded | null | undefined;
/** warren's tracer from the provider registered last, reused while that provider stays registered. */
let cached: { readonly provider: TraceTracerProvider; readonly tracing: ActiveTracing } | undefined;

function load(): Loaded | null {
  try {
    const api = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
    return { api, noop: new api.ProxyTracerProvider().getDelegate() };
  } catch {
    return null;
  }
}

/** What tracing needs, when it is on. */
export interface ActiveTracing {
  readonly api: OpenTelemetryApi;
  readonly tracer: TraceTracer;
}

/**
 * The API and warren's tracer while the application has registered a tracer provider; `undefined` when it has not,
 * or has not installed `@opentelemetry/api`. This is the cheap check warren makes per publish and per delivery: a
 * few property reads, no span, no context, no allocation.
 */
export function activeTracing(): ActiveTracing | undefined {
  loaded ??= load();
  if (loaded === null) return undefined;
  const global = loaded.api.trace.getTracerProvider();
  // The global provider is the API's proxy; while nothing is registered, it hands out the no-op provider.
  const provider = global.getDelegate ? global.getDelegate() : global;
  if (provider === loaded.noop) return undefined;
  if (cached?.provider !== provider)
    cached = { provider, tracing: { api: loaded.api, tracer: provider.getTracer(TRACER_NAME) } };
  return cached.tracing;
}

/**
 * Exports what the registered tracer provider still holds (a batching processor's last spans), waiting at most
 * `timeoutMs`; nothing to do without one. `warren start` calls it after the drain, before it exits: its exit does
 * not wait for an SDK's own shutdown hook. Never rejects: a failing exporter is the application's to report.
 */
export async function flushTracing(timeoutMs: number): Promise<void> {
  const tracing = activeTracing();
  const provider = cached?.provider as { forceFlush?: () => Promise<void> } | undefined;
  if (tracing === undefined || typeof provider?.forceFlush !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    provider.forceFlush().catch(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}
