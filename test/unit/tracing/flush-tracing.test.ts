import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { activeTracing, flushTracing } from '../../../src/tracing/otel-api.js';

afterEach(() => trace.disable());

describe('flushTracing (warren start, before it exits)', () => {
  it('exports what a batching processor still holds', async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60_000 });
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [processor] }));
    activeTracing()?.tracer.startSpan('the last job').end();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    await flushTracing(2_000);
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['the last job']);
  });

  it('does nothing, at once, without a registered provider', async () => {
    const started = performance.now();
    await flushTracing(2_000);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('gives up after its timeout when the exporter never answers', async () => {
    const stuck = { export: () => {}, shutdown: () => Promise.resolve() };
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({
        spanProcessors: [new BatchSpanProcessor(stuck, { scheduledDelayMillis: 60_000, exportTimeoutMillis: 60_000 })],
      }),
    );
    activeTracing()?.tracer.startSpan('stuck').end();
    const started = performance.now();
    await flushTracing(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
