import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IllegalStateError, NonRetryableError, defineJob, jobQueue, type JobEventMap, type JobEventName } from 'warren';
import { queueDepth, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const EVENTS: readonly JobEventName[] = ['started', 'succeeded', 'retried', 'dead-lettered'];

describe('lifecycle events on a worker', () => {
  it('reports started, retried, succeeded and dead-lettered, each once it is true, with the job and the error', async () => {
    const flaky = defineJob('events.flaky', (_payload, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempt fails');
    });
    const refused = defineJob(
      'events.refused',
      () => {
        throw new NonRetryableError('account closed');
      },
      { schema: z.object({ account: z.number() }) },
    );
    const seen: Array<{ name: JobEventName; event: JobEventMap[JobEventName] }> = [];
    harness = await startHarness([flaky, refused], {
      config: { retryTiersMs: [500], maxAttempts: 3 },
      prepare: (worker) => {
        for (const name of EVENTS) worker.on(name, (event) => void seen.push({ name, event }));
        // A listener that throws is logged; it changes no outcome.
        worker.on('succeeded', () => {
          throw new Error('listener bug');
        });
      },
    });
    const { client } = harness;
    const flakyId = await client.publish('events.flaky', {});
    const refusedId = await client.publish('events.refused', { account: 7 });
    const invalidId = await client.publish('events.refused', { account: 'seven' });
    await waitFor(
      'four final events',
      () => seen.filter((s) => s.name !== 'started' && s.name !== 'retried').length === 3,
    );

    const of = (jobId: string) => seen.filter((s) => s.event.jobId === jobId);
    expect(of(flakyId).map((s) => [s.name, s.event.attempt])).toEqual([
      ['started', 1],
      ['retried', 1],
      ['started', 2],
      ['succeeded', 2],
    ]);
    expect(of(flakyId)[1]?.event).toMatchObject({
      jobType: 'events.flaky',
      error: { message: 'first attempt fails' },
      delayMs: 500,
      tier: '500ms',
      nextAttempt: 2,
    });
    expect(of(refusedId).map((s) => s.name)).toEqual(['started', 'dead-lettered']);
    expect(of(refusedId)[1]?.event).toMatchObject({ reason: 'non_retryable', error: { name: 'NonRetryableError' } });
    // Refused by its schema: the handler never started.
    expect(of(invalidId).map((s) => s.name)).toEqual(['dead-lettered']);
    expect(of(invalidId)[0]?.event).toMatchObject({ reason: 'invalid_payload' });
    expect(harness.logLines.some((line) => line.includes('a job event listener failed'))).toBe(true);
    await waitFor(
      'the queue to drain',
      async () => (await queueDepth(jobQueue(harness?.config.namespace ?? '', 'events.flaky'))) === 0,
    );
  });

  it('refuses worker.use once the worker has started', async () => {
    harness = await startHarness([defineJob('events.any', () => undefined)]);
    expect(() => harness?.worker.use((_ctx, next) => next())).toThrow(IllegalStateError);
    expect(() => harness?.worker.use((_ctx, next) => next())).toThrow(
      'worker.use() must be called before start(); the worker is running',
    );
  });
});

describe('middleware around handlers and publishes', () => {
  it('client middleware adds headers in order, and what one throws rejects the publish with nothing sent', async () => {
    const seen: Array<Readonly<Record<string, unknown>>> = [];
    const job = defineJob('publish.wrapped', (_payload, ctx) => void seen.push(ctx.headers));
    harness = await startHarness([job], {
      prepare: (_worker, client) => {
        client.use((call, next) => {
          if ((call.payload as { forbidden?: boolean }).forbidden) throw new Error('tenant not allowed');
          call.headers['tenant-id'] = 'acme';
          return next();
        });
        client.use(async (call, next) => {
          call.headers.order = `${String(call.headers['tenant-id'])} then second`;
          const id = await next();
          expect(id).toBe('wrapped-1');
          return id;
        });
      },
    });
    await expect(
      harness.client.publish('publish.wrapped', {}, { messageId: 'wrapped-1', headers: { own: 1 } }),
    ).resolves.toBe('wrapped-1');
    await expect(harness.client.publish('publish.wrapped', { forbidden: true })).rejects.toThrow('tenant not allowed');
    await waitFor('the job', () => seen.length === 1);
    expect(seen[0]).toMatchObject({ own: 1, 'tenant-id': 'acme', order: 'acme then second' });
    // Still refused by the publish itself: a middleware cannot write warren's own headers.
    harness.client.use((call, next) => {
      call.headers['x-warren-attempt'] = 5;
      return next();
    });
    await expect(harness.client.publish('publish.wrapped', {})).rejects.toMatchObject({
      code: 'WARREN_ERR_PUBLISH_OPTIONS',
    });
    expect(await queueDepth(jobQueue(harness.config.namespace, 'publish.wrapped'))).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it('a job’s child published with a delay runs after it, once the parent has succeeded', async () => {
    const runs: Array<{ jobType: string; jobId: string; at: number; parent: unknown }> = [];
    const parent = defineJob('children.parent', (_payload, ctx) => {
      runs.push({ jobType: ctx.jobType, jobId: ctx.jobId, at: Date.now(), parent: undefined });
      ctx.publish('children.child', { n: 1 }, { key: 'later', delayMs: 1_000 });
    });
    const child = defineJob('children.child', (_payload, ctx) => {
      runs.push({ jobType: ctx.jobType, jobId: ctx.jobId, at: Date.now(), parent: ctx.headers['x-warren-parent'] });
    });
    harness = await startHarness([parent, child]);
    const id = await harness.client.publish('children.parent', {});
    await waitFor('the child', () => runs.length === 2, 10_000);
    expect(runs.map((r) => [r.jobType, r.jobId, r.parent])).toEqual([
      ['children.parent', id, undefined],
      ['children.child', `${id}/later`, id],
    ]);
    expect((runs[1]?.at ?? 0) - (runs[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000);
  });
});
