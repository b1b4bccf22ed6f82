import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Options } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { SUCCESS, failureVerdict, type Verdict } from '../../../src/consumer/verdict.js';
import { UnroutableError } from '../../../src/errors/unroutable-error.js';
import { HEADERS, MAX_HEADER_TABLE_BYTES } from '../../../src/messages/headers.js';
import { tableBytes } from '../../../src/messages/header-bytes.js';
import { activeTracing } from '../../../src/tracing/otel-api.js';
import { startProcessSpan } from '../../../src/tracing/process-span.js';
import { startPublishSpan } from '../../../src/tracing/publish-span.js';
import { HEADER_GETTER } from '../../../src/tracing/trace-headers.js';
import { delivery } from '../../helpers/fake-delivery.js';
import { installTracing, parentOf, traceparentOf, type TestTracing } from '../../helpers/tracing.js';

let tracing: TestTracing | undefined;
afterEach(async () => {
  await tracing?.uninstall();
  tracing = undefined;
});

const INHERITED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const body = Buffer.from('{"to":"a@example.com"}');
/** The properties of a retry copy: the original's headers (its trace context too), and the attempt it will be. */
function copyProperties(): Options.Publish {
  return {
    messageId: 'job-1',
    type: 'email.send',
    persistent: true,
    headers: { traceparent: INHERITED, tracestate: 'old=1', [HEADERS.attempt]: 2, 'x-app': 'kept' },
  };
}

function spans() {
  return tracing?.spans() ?? [];
}

describe('the cheap check: is a tracer provider registered?', () => {
  it('is not, by default, nor with only a propagator and a context manager: no span, the properties untouched', () => {
    expect(activeTracing()).toBeUndefined();
    tracing = installTracing({ provider: false });
    expect(activeTracing()).toBeUndefined();
    expect(startPublishSpan('ns.jobs', 'email.send', body, copyProperties(), undefined, undefined)).toBeUndefined();
    expect(
      startProcessSpan(
        delivery({}),
        { jobId: 'job-1', hasId: true, attempt: 1, headers: {} },
        'q',
        'test.job',
        undefined,
      ),
    ).toBeUndefined();
  });

  it('is while one is registered, with the same answer each time (no allocation), and not once it is gone', async () => {
    tracing = installTracing();
    const on = activeTracing();
    expect(on).toBeDefined();
    expect(activeTracing()).toBe(on);
    await tracing.uninstall();
    tracing = undefined;
    expect(activeTracing()).toBeUndefined();
    // Another provider registered later gets a tracer of its own.
    tracing = installTracing();
    expect(activeTracing()?.tracer).not.toBe(on?.tracer);
  });
});

describe('a publish span', () => {
  it('writes its trace context into a copy of the headers, without the inherited one; the caller’s object is untouched', () => {
    tracing = installTracing();
    const properties = copyProperties();
    const before = structuredClone(properties);
    const span = startPublishSpan('ns.retry', '1s.email.send', body, properties, undefined, '127.0.0.1:5672');
    expect(span).toBeDefined();
    const sent = span?.properties as Options.Publish;
    expect(properties).toEqual(before);
    expect(sent.headers).not.toBe(properties.headers);
    span?.end();

    const [finished] = spans();
    expect(finished).toBeDefined();
    const headers = sent.headers as Record<string, unknown>;
    expect(headers['traceparent']).toBe(traceparentOf(finished?.spanContext() ?? { traceId: '', spanId: '' }));
    expect(headers['traceparent']).not.toBe(INHERITED);
    expect(headers).not.toHaveProperty('tracestate');
    expect(headers).toMatchObject({ [HEADERS.attempt]: 2, 'x-app': 'kept' });
    expect({ ...sent, headers: undefined }).toEqual({ ...properties, headers: undefined });

    expect(finished?.name).toBe('publish ns.retry');
    expect(finished?.kind).toBe(SpanKind.PRODUCER);
    // The inherited traceparent is the original's, not this span's parent: the active context is.
    expect(parentOf(finished!)).toBeUndefined();
    expect(finished?.attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'ns.retry',
      'messaging.rabbitmq.destination.routing_key': '1s.email.send',
      'messaging.message.id': 'job-1',
      'messaging.message.body.size': body.length,
      'server.address': '127.0.0.1',
      'server.port': 5672,
      'warren.job_type': 'email.send',
      'warren.attempt': 2,
    });
    expect(finished?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('is the child of the active span; with `root`, of none, linked to the span `linkTo` headers carry', () => {
    tracing = installTracing();
    const parent = trace.getTracer('test').startSpan('parent');
    context.with(trace.setSpan(context.active(), parent), () => {
      startPublishSpan('ns.jobs', 'a.job', body, {}, undefined, undefined)?.end();
      startPublishSpan(
        'ns.requeue',
        'replay.a.job',
        body,
        {},
        { root: true, linkTo: { traceparent: INHERITED } },
        undefined,
      )?.end();
      startPublishSpan(
        'ns.requeue',
        'replay.a.job',
        body,
        {},
        { root: true, linkTo: { traceparent: 'garbage' } },
        undefined,
      )?.end();
    });
    parent.end();
    const [child, replay, unlinked] = spans();
    expect(parentOf(child!)).toBe(parent.spanContext().spanId);
    expect(child?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(parentOf(replay!)).toBeUndefined();
    expect(replay?.spanContext().traceId).not.toBe(parent.spanContext().traceId);
    expect(replay?.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([
      ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'],
    ]);
    expect(unlinked?.links).toEqual([]);
  });

  it('ends with the error of a failed publish: exception, error.type, status ERROR; the first end counts', () => {
    tracing = installTracing();
    const span = startPublishSpan('ns.jobs', 'a.job', body, {}, undefined, undefined);
    span?.end(new UnroutableError('message 1 was returned'));
    span?.end();
    expect(spans()).toHaveLength(1);
    const [failed] = spans();
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'message 1 was returned' });
    expect(failed?.attributes['error.type']).toBe('WARREN_ERR_UNROUTABLE');
    expect(failed?.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('without a propagator: a span, but the message keeps its properties as they are', () => {
    tracing = installTracing({ propagator: false });
    const properties = copyProperties();
    const span = startPublishSpan('ns.jobs', 'a.job', body, properties, undefined, undefined);
    expect(span?.properties).toBe(properties);
    span?.end();
    expect(spans()).toHaveLength(1);
  });

  it('leaves out the trace headers that would push a table past the AMQP limit (the message matters more)', () => {
    tracing = installTracing();
    // A table a few bytes short of the limit, as a retry copy cut to fit can be: a traceparent (72 bytes) would not fit.
    const headers = { filler: 'x'.repeat(MAX_HEADER_TABLE_BYTES - 26) };
    expect(MAX_HEADER_TABLE_BYTES - tableBytes(headers, true)).toBe(10);
    const span = startPublishSpan('ns.retry', '1s.a.job', body, { headers }, undefined, undefined);
    span?.end();
    expect(span?.properties.headers).toEqual(headers);
    expect(spans()).toHaveLength(1);
    // With room to spare, the same publish carries it.
    const roomy = startPublishSpan('ns.retry', '1s.a.job', body, { headers: { filler: 'x' } }, undefined, undefined);
    expect(roomy?.properties.headers).toHaveProperty('traceparent');
  });

  it('reads a trace header sent as a byte array as text', () => {
    expect(HEADER_GETTER.get({ traceparent: Buffer.from(INHERITED) }, 'traceparent')).toBe(INHERITED);
    expect(HEADER_GETTER.get({ traceparent: 42 }, 'traceparent')).toBeUndefined();
  });
});

describe('a process span', () => {
  const id = { jobId: 'job-1', hasId: true, attempt: 2, headers: { traceparent: INHERITED } };
  const policy = { maxAttempts: 3, tiersMs: [1_000] };
  const retry = (): Verdict => failureVerdict(new Error('boom'), { attempt: 2, abortedByShutdown: false }, policy);

  it('is the child of the traceparent in the headers, and ends synchronously when the delivery is settled so', () => {
    tracing = installTracing();
    const message = delivery({}, { headers: id.headers });
    const span = startProcessSpan(message, id, 'ns.job.test.job', 'test.job', '127.0.0.1:5672');
    let activeInside: string | undefined;
    const result = span?.run(
      () => {
        activeInside = trace.getActiveSpan()?.spanContext().spanId;
        return SUCCESS;
      },
      () => undefined,
    );
    expect(result).toBeUndefined();
    const [processed] = spans();
    expect(processed?.name).toBe('process ns.job.test.job');
    expect(processed?.kind).toBe(SpanKind.CONSUMER);
    expect(activeInside).toBe(processed?.spanContext().spanId);
    expect(processed?.parentSpanContext).toMatchObject({ spanId: 'b7ad6b7169203331', isRemote: true });
    expect(processed?.attributes).toMatchObject({
      'messaging.destination.subscription.name': 'ns.job.test.job',
      'messaging.rabbitmq.message.delivery_tag': 1,
      'messaging.message.id': 'job-1',
      'warren.attempt': 2,
      'warren.outcome': 'success',
    });
  });

  it('is active while the verdict is applied, and ends only once the apply has settled', async () => {
    tracing = installTracing();
    const message = delivery({});
    const span = startProcessSpan(message, { ...id, headers: {} }, 'q', 'test.job', undefined);
    let release: () => void = () => {};
    let activeInApply: string | undefined;
    const pending = span?.run(
      async () => retry(),
      () => {
        activeInApply = trace.getActiveSpan()?.spanContext().spanId;
        return new Promise<void>((resolve) => (release = resolve));
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(spans()).toEqual([]);
    release();
    await pending;
    const [processed] = spans();
    expect(activeInApply).toBe(processed?.spanContext().spanId);
    expect(parentOf(processed!)).toBeUndefined();
    expect(processed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(processed?.attributes).toMatchObject({ 'warren.outcome': 'retry', 'warren.retry.tier': '1s' });
  });

  it('learns that the delivery’s copy was not confirmed (requeued); another publish failing changes nothing', async () => {
    tracing = installTracing();
    for (const [content, outcome] of [
      ['its own body', 'requeued'],
      ['another body', 'retry'],
    ] as const) {
      const message = delivery({});
      const span = startProcessSpan(message, { ...id, headers: {} }, 'q', 'test.job', undefined);
      await span?.run(retry, () => {
        const copy = content === 'its own body' ? message.content : Buffer.from(message.content);
        startPublishSpan('ns.retry', '1s.test.job', copy, {}, undefined, undefined)?.end(new Error('nacked'));
        return Promise.resolve();
      });
      const processed = spans().find((s) => s.name === 'process q');
      expect(processed?.attributes['warren.outcome'], content).toBe(outcome);
      tracing.exporter.reset();
    }
  });

  it('ends with the error when deciding throws (a bug), and passes it on', () => {
    tracing = installTracing();
    const span = startProcessSpan(delivery({}), { ...id, headers: {} }, 'q', 'test.job', undefined);
    expect(() =>
      span?.run(
        () => {
          throw new Error('bug');
        },
        () => undefined,
      ),
    ).toThrow('bug');
    expect(spans()[0]?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bug' });
  });
});
