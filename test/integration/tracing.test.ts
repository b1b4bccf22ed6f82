import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DeadLetterReplay,
  NonRetryableError,
  Registry,
  Worker,
  deadExchange,
  deadQueue,
  defineJob,
  defineSchedule,
  jobQueue,
  jobsExchange,
  type JobContext,
} from 'warren';
import { delayLevel, requeueExchange, retryExchange } from '../../src/topology/names.js';
import {
  AMQP_URL,
  deleteNamespace,
  memoryLogger,
  queueDepth,
  rawConnection,
  testConfig,
  waitFor,
} from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { describeSpans, installTracing, parentOf, traceparentOf, type TestTracing } from '../helpers/tracing.js';

const cleanups: Array<() => Promise<unknown>> = [];
let harness: Harness | undefined;
let tracing: TestTracing | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await tracing?.uninstall();
  tracing = undefined;
});

const BROKER = new URL(AMQP_URL);
const SERVER = { 'server.address': BROKER.hostname, 'server.port': Number(BROKER.port || 5672) };

/**
 * The application's own tracer. Taken anew at each use: a tracer taken before a provider is registered keeps the
 * first provider it finds, and each test registers one of its own.
 */
const appTracer = () => trace.getTracer('test-handlers');

/** A handler that does its work inside a span of its own, the way instrumented application code does. */
async function inOwnSpan(ctx: JobContext, work: () => void): Promise<void> {
  await appTracer().startActiveSpan(`handler ${ctx.jobType}`, async (span) => {
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      work();
    } finally {
      span.end();
    }
  });
}

function spans(): ReadableSpan[] {
  return tracing?.spans() ?? [];
}

/** The one finished span that matches, with the tree in the message when there is not exactly one. */
function one(what: string, predicate: (span: ReadableSpan) => boolean): ReadableSpan {
  const found = spans().filter(predicate);
  expect(found, `${what}; spans:\n${describeSpans(spans())}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

const idOf = (span: ReadableSpan): string => span.spanContext().spanId;
const traceOf = (span: ReadableSpan): string => span.spanContext().traceId;
const named = (name: string, attempt?: number) => (span: ReadableSpan) =>
  span.name === name && (attempt === undefined || span.attributes['warren.attempt'] === attempt);

describe('tracing with OpenTelemetry: the spans of a job, across warren’s hops', () => {
  it('a job that fails twice and succeeds: one trace, each attempt the child of the publish that brought it', async () => {
    tracing = installTracing();
    const seen: Array<{ attempt: number; traceparent: unknown }> = [];
    const job = defineJob('trace.flaky', async (_payload: unknown, ctx) => {
      seen.push({ attempt: ctx.attempt, traceparent: ctx.headers['traceparent'] });
      await inOwnSpan(ctx, () => {
        if (ctx.attempt < 3) throw new Error(`failure ${ctx.attempt}`);
      });
    });
    harness = await startHarness([job], { config: { retryTiersMs: [1_000, 2_000], maxAttempts: 3 } });
    const { namespace } = harness.config;
    const queue = jobQueue(namespace, 'trace.flaky');
    await harness.client.publish('trace.flaky', { n: 1 }, { messageId: 'flaky-1' });
    await waitFor(
      'the third attempt to succeed',
      () => spans().some((s) => named(`process ${queue}`, 3)(s) && s.attributes['warren.outcome'] === 'success'),
      15_000,
    );

    const published = one('the client’s publish', named(`publish ${jobsExchange(namespace)}`));
    const processes = [1, 2, 3].map((n) => one(`process span of attempt ${n}`, named(`process ${queue}`, n)));
    const retries = [2, 3].map((n) =>
      one(`retry copy for attempt ${n}`, named(`publish ${retryExchange(namespace)}`, n)),
    );
    const handlerSpans = spans().filter((s) => s.name === 'handler trace.flaky');
    const [first, second, third] = processes as [ReadableSpan, ReadableSpan, ReadableSpan];
    const [retry1, retry2] = retries as [ReadableSpan, ReadableSpan];
    const tree = describeSpans(spans());

    // One trace: publish → attempt 1 → retry copy → attempt 2 → retry copy → attempt 3.
    for (const span of [...processes, ...retries, ...handlerSpans])
      expect(traceOf(span), tree).toBe(traceOf(published));
    expect(parentOf(published), tree).toBeUndefined();
    expect(parentOf(first), tree).toBe(idOf(published));
    expect(parentOf(retry1), tree).toBe(idOf(first));
    expect(parentOf(second), tree).toBe(idOf(retry1));
    expect(parentOf(retry2), tree).toBe(idOf(second));
    expect(parentOf(third), tree).toBe(idOf(retry2));
    // The handler's own span nests in its attempt's process span.
    expect(handlerSpans.map(parentOf).sort(), tree).toEqual(processes.map(idOf).sort());
    // A process span ends once its delivery is settled: after its copy was confirmed. (In the order they ended, as
    // the exporter got them: end times of different spans are not comparable below a millisecond.)
    expect(spans().indexOf(first)).toBeGreaterThan(spans().indexOf(retry1));
    expect(spans().indexOf(second)).toBeGreaterThan(spans().indexOf(retry2));
    // What the handler saw: the traceparent of the publish span that brought each attempt.
    expect(seen.map((s) => s.traceparent)).toEqual(
      [published, retry1, retry2].map((s) => traceparentOf(s.spanContext())),
    );

    expect(published.kind).toBe(SpanKind.PRODUCER);
    expect(published.attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': jobsExchange(namespace),
      'messaging.rabbitmq.destination.routing_key': 'trace.flaky',
      'messaging.message.id': 'flaky-1',
      'messaging.message.body.size': Buffer.byteLength('{"n":1}'),
      ...SERVER,
      'warren.job_type': 'trace.flaky',
      'warren.attempt': 1,
    });
    expect(published.status.code).toBe(SpanStatusCode.UNSET);
    expect(retry1.attributes).toMatchObject({
      'messaging.destination.name': retryExchange(namespace),
      'messaging.rabbitmq.destination.routing_key': '1s.trace.flaky',
      'warren.attempt': 2,
    });
    expect(retry2.attributes).toMatchObject({ 'messaging.rabbitmq.destination.routing_key': '2s.trace.flaky' });

    expect(first.kind).toBe(SpanKind.CONSUMER);
    expect(first.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': jobsExchange(namespace),
      'messaging.destination.subscription.name': queue,
      'messaging.rabbitmq.destination.routing_key': 'trace.flaky',
      'messaging.rabbitmq.message.delivery_tag': expect.any(Number),
      'messaging.message.id': 'flaky-1',
      'messaging.message.body.size': Buffer.byteLength('{"n":1}'),
      ...SERVER,
      'warren.job_type': 'trace.flaky',
      'warren.attempt': 1,
      'warren.outcome': 'retry',
      'warren.retry.tier': '1s',
      'warren.retry.delay_ms': 1_000,
      'error.type': 'Error',
    });
    expect(second.attributes).toMatchObject({ 'warren.outcome': 'retry', 'warren.retry.tier': '2s' });
    for (const [i, failed] of [first, second].entries()) {
      expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: `failure ${i + 1}` });
      expect(failed.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
        ['exception', `failure ${i + 1}`],
      ]);
    }
    expect(third.attributes).toMatchObject({ 'warren.outcome': 'success' });
    expect(third.attributes['error.type']).toBeUndefined();
    expect(third.status.code).toBe(SpanStatusCode.UNSET);
    expect(third.events).toEqual([]);
  });

  it('child jobs inherit the trace: published inside the parent’s process span, each child processed under its publish', async () => {
    tracing = installTracing();
    const ran: string[] = [];
    const parent = defineJob('trace.parent', (_payload, ctx) => {
      ctx.publish('trace.child', { n: 1 });
      ctx.publish('trace.child', { n: 2 }, { key: 'second' });
    });
    const child = defineJob('trace.child', (_payload, ctx) => void ran.push(ctx.jobId));
    harness = await startHarness([parent, child]);
    const { namespace } = harness.config;
    await harness.client.publish('trace.parent', {}, { messageId: 'parent-1' });
    await waitFor('both children', () => ran.length === 2, 15_000);
    const childQueue = jobQueue(namespace, 'trace.child');
    await waitFor('the children’s process spans', () => spans().filter(named(`process ${childQueue}`)).length === 2);

    const root = one(
      'the parent’s publish',
      (span) => span.attributes['messaging.message.id'] === 'parent-1' && span.kind === SpanKind.PRODUCER,
    );
    const parentProcess = one('the parent’s process span', named(`process ${jobQueue(namespace, 'trace.parent')}`));
    expect(parentOf(parentProcess)).toBe(idOf(root));
    for (const childId of ['parent-1/1', 'parent-1/second']) {
      const published = one(
        `the publish of ${childId}`,
        (span) => span.kind === SpanKind.PRODUCER && span.attributes['messaging.message.id'] === childId,
      );
      const processed = one(
        `the process span of ${childId}`,
        (span) => span.kind === SpanKind.CONSUMER && span.attributes['messaging.message.id'] === childId,
      );
      expect(parentOf(published), describeSpans(spans())).toBe(idOf(parentProcess));
      expect(parentOf(processed)).toBe(idOf(published));
      expect(traceOf(processed)).toBe(traceOf(root));
      expect(published.attributes).toMatchObject({ 'warren.job_type': 'trace.child' });
    }
  });

  it('a delayed job: its process span is the child of its publish span, through the delay cascade', async () => {
    tracing = installTracing();
    const ran: string[] = [];
    harness = await startHarness([defineJob('trace.delayed', (_payload, ctx) => void ran.push(ctx.jobId))]);
    const { namespace } = harness.config;
    await harness.client.publish('trace.delayed', {}, { messageId: 'later-1', delayMs: 1_000 });
    await waitFor('the delayed job', () => ran.length === 1, 15_000);
    const queue = jobQueue(namespace, 'trace.delayed');
    await waitFor('its process span', () => spans().some(named(`process ${queue}`)));

    // A 1 s delay enters the cascade at its last level (its only 1 bit), not at the top.
    const published = one('the delayed publish', named(`publish ${delayLevel(namespace, 0)}`));
    const processed = one('the process span', named(`process ${queue}`));
    expect(published.attributes).toMatchObject({
      'messaging.message.id': 'later-1',
      'warren.job_type': 'trace.delayed',
    });
    expect(parentOf(processed), describeSpans(spans())).toBe(idOf(published));
    expect(traceOf(processed)).toBe(traceOf(published));
    expect(processed.attributes).toMatchObject({ 'warren.outcome': 'success', 'messaging.message.id': 'later-1' });
  });

  it('a replayed dead letter: a new trace, linked to the dead letter’s publish; the replayed job is its child', async () => {
    tracing = installTracing();
    let failing = true;
    const job = defineJob('trace.dead', () => {
      if (failing) throw new NonRetryableError('not now');
    });
    harness = await startHarness([job]);
    const { config } = harness;
    const { namespace } = config;
    const queue = jobQueue(namespace, 'trace.dead');
    await harness.client.publish('trace.dead', {}, { messageId: 'dead-1' });
    await waitFor('the dead letter', async () => (await queueDepth(deadQueue(namespace, 'trace.dead'))) === 1);
    await waitFor('the first process span', () => spans().some(named(`process ${queue}`)));
    const original = one('the first attempt', named(`process ${queue}`));
    const deadLetter = one('the dead letter’s publish', named(`publish ${deadExchange(namespace)}`));
    expect(original.attributes).toMatchObject({
      'warren.outcome': 'dead',
      'warren.dead_letter.reason': 'non_retryable',
      'error.type': 'WARREN_ERR_NON_RETRYABLE',
    });
    expect(original.status.code).toBe(SpanStatusCode.ERROR);
    expect(parentOf(deadLetter)).toBe(idOf(original));

    failing = false;
    const summary = await new DeadLetterReplay({
      config,
      logger: memoryLogger('silent').logger,
      jobType: 'trace.dead',
    }).run();
    expect(summary).toMatchObject({ replayed: 1 });
    await waitFor('the replayed job', () => spans().filter(named(`process ${queue}`)).length === 2);

    const replayed = one('the replay’s publish', named(`publish ${requeueExchange(namespace)}`));
    const rerun = spans().find((s) => named(`process ${queue}`)(s) && s !== original) as ReadableSpan;
    const tree = describeSpans(spans());
    expect(parentOf(replayed), tree).toBeUndefined();
    expect(traceOf(replayed), tree).not.toBe(traceOf(original));
    expect(replayed.links.map((link) => link.context.spanId)).toEqual([idOf(deadLetter)]);
    expect(replayed.links[0]?.context.traceId).toBe(traceOf(original));
    expect(replayed.kind).toBe(SpanKind.PRODUCER);
    expect(replayed.attributes).toMatchObject({ 'messaging.message.id': 'dead-1', 'warren.attempt': 1, ...SERVER });
    expect(parentOf(rerun), tree).toBe(idOf(replayed));
    expect(traceOf(rerun)).toBe(traceOf(replayed));
    expect(rerun.attributes).toMatchObject({ 'warren.outcome': 'success', 'warren.attempt': 1 });
  });

  it('a foreign publisher’s traceparent is honoured: the process span is the child of that span', async () => {
    tracing = installTracing();
    const ran: string[] = [];
    harness = await startHarness([defineJob('trace.foreign', (_payload, ctx) => void ran.push(ctx.jobId))]);
    const { namespace } = harness.config;
    const foreign = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    channel.publish(jobsExchange(namespace), 'trace.foreign', Buffer.from('{}'), {
      contentType: 'application/json',
      persistent: true,
      messageId: 'foreign-1',
      headers: { traceparent: traceparentOf(foreign), tracestate: 'vendor=abc' },
    });
    await channel.waitForConfirms();
    await connection.close();
    const queue = jobQueue(namespace, 'trace.foreign');
    await waitFor('its process span', () => spans().some(named(`process ${queue}`)));

    const processed = one('the process span', named(`process ${queue}`));
    expect(traceOf(processed)).toBe(foreign.traceId);
    expect(processed.parentSpanContext).toMatchObject({ ...foreign, isRemote: true });
    expect(processed.spanContext().traceState?.get('vendor')).toBe('abc');
    expect(processed.attributes).toMatchObject({ 'messaging.message.id': 'foreign-1', 'warren.outcome': 'success' });
  });

  it('a cron fire starts a new trace: the fire span is the root, the publish its child, the job the publish’s', async () => {
    tracing = installTracing();
    const config = testConfig({ redisUrl: 'none' });
    cleanups.push(() => deleteNamespace(config.namespace, ['trace.tick']));
    const ran: string[] = [];
    const worker = new Worker({
      config,
      registry: new Registry().add([defineJob('trace.tick', (_payload, ctx) => void ran.push(ctx.jobId))]),
      schedules: [defineSchedule({ name: 'trace-tick', cron: '* * * * * *', jobType: 'trace.tick' })],
      logger: memoryLogger('silent').logger,
    });
    cleanups.push(() => worker.stop());
    // Some unrelated span is active when the worker starts: fires must not join its trace.
    await appTracer().startActiveSpan('application startup', async (span) => {
      await worker.start();
      span.end();
    });
    const queue = jobQueue(config.namespace, 'trace.tick');
    await waitFor('a fired job processed', () => spans().some(named(`process ${queue}`)), 10_000);
    await worker.stop();

    const processed = spans().find(named(`process ${queue}`)) as ReadableSpan;
    const jobId = ran.find((id) => id === processed.attributes['messaging.message.id']);
    expect(jobId, `the job ids run: ${ran.join(', ')}`).toMatch(/^trace-tick@/);
    const published = one('its publish', (s) => idOf(s) === parentOf(processed));
    const fire = one('its fire', (s) => idOf(s) === parentOf(published));
    const startup = one('the startup span', named('application startup'));
    const tree = describeSpans(spans());
    expect(published.name, tree).toBe(`publish ${jobsExchange(config.namespace)}`);
    expect(published.attributes).toMatchObject({ 'messaging.message.id': jobId, 'warren.job_type': 'trace.tick' });
    expect(fire.name, tree).toBe('fire trace-tick');
    expect(fire.kind).toBe(SpanKind.INTERNAL);
    expect(parentOf(fire), tree).toBeUndefined();
    expect(traceOf(fire)).not.toBe(traceOf(startup));
    expect(fire.attributes).toEqual({
      'warren.schedule': 'trace-tick',
      'warren.fire_time': (jobId as string).slice('trace-tick@'.length),
      'warren.job_type': 'trace.tick',
    });
    // Every fire is a trace of its own.
    const fires = spans().filter(named('fire trace-tick'));
    expect(new Set(fires.map(traceOf)).size).toBe(fires.length);
  });

  it('without a tracer provider: no span, no traceparent written, and a foreign one passed on untouched', async () => {
    // A propagator and a context manager are registered, as some applications do without tracing: warren still
    // makes no span and writes no header.
    tracing = installTracing({ provider: false });
    const seen: Array<{ jobId: string; attempt: number; headers: Record<string, unknown> }> = [];
    const job = defineJob('trace.off', (_payload, ctx) => {
      seen.push({ jobId: ctx.jobId, attempt: ctx.attempt, headers: { ...ctx.headers } });
      if (ctx.attempt === 1) throw new Error('once');
    });
    harness = await startHarness([job], { config: { retryTiersMs: [300], maxAttempts: 3 } });
    const { namespace } = harness.config;
    await harness.client.publish('trace.off', {}, { messageId: 'off-1' });
    const foreign = traceparentOf({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    channel.publish(jobsExchange(namespace), 'trace.off', Buffer.from('{}'), {
      messageId: 'off-foreign',
      persistent: true,
      headers: { traceparent: foreign },
    });
    await channel.waitForConfirms();
    await connection.close();
    await waitFor('both jobs twice', () => seen.length === 4, 10_000);

    const headersOf = (jobId: string, name: string) =>
      seen
        .filter((s) => s.jobId === jobId)
        .sort((a, b) => a.attempt - b.attempt)
        .map((s) => [s.attempt, s.headers[name]]);
    // warren's own job: no trace header on the first delivery nor on its retry copy.
    expect(headersOf('off-1', 'traceparent')).toEqual([
      [1, undefined],
      [2, undefined],
    ]);
    expect(headersOf('off-1', 'tracestate')).toEqual([
      [1, undefined],
      [2, undefined],
    ]);
    // The foreign job: its traceparent as it was sent, on the first delivery and on the retry copy alike.
    expect(headersOf('off-foreign', 'traceparent')).toEqual([
      [1, foreign],
      [2, foreign],
    ]);
    expect(tracing.spans()).toEqual([]);
  });
});
