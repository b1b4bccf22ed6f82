import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, defineJob, type JobDefinition } from 'warren';
import { DeliveryRunner, type DeliveryIdentity } from '../../../src/consumer/delivery-runner.js';
import { LazyAbort } from '../../../src/consumer/lazy-abort.js';
import { SUCCESS, type Verdict } from '../../../src/consumer/verdict.js';
import { HEADERS } from '../../../src/messages/headers.js';
import type { JobMiddleware } from '../../../src/registry/job-definition.js';
import { delivery } from '../../helpers/fake-delivery.js';

const policy = { maxAttempts: 3, tiersMs: [1_000] };
const id: DeliveryIdentity = { jobId: 'job-1', hasId: true, attempt: 1, headers: {} };

function run(
  job: JobDefinition,
  payload: unknown,
  options: {
    middleware?: JobMiddleware[];
    dedup?: { isDone: () => Promise<boolean> };
    headers?: Record<string, unknown>;
  } = {},
): Verdict | Promise<Verdict> {
  const runner = new DeliveryRunner(job, {
    queue: `ns.job.${job.jobType}`,
    retryPolicy: policy,
    timeoutMs: 1_000,
    logger: pino({ level: 'silent' }),
    dedup: options.dedup,
    draining: () => false,
    middleware: () => options.middleware ?? [],
  });
  const headers = options.headers ?? {};
  return runner.run(delivery(payload, { headers, routingKey: job.jobType }), { ...id, headers }, new LazyAbort());
}

describe('middleware around a handler', () => {
  it('runs the worker’s middleware outermost, then the job’s, in registration order, around the handler', async () => {
    const order: string[] = [];
    const named =
      (name: string): JobMiddleware =>
      async (ctx, next) => {
        order.push(`${name} in ${ctx.jobId} ${JSON.stringify(ctx.payload)}`);
        const result = await next();
        order.push(`${name} out ${String(result)}`);
        return result;
      };
    const job = defineJob(
      'test.job',
      (payload: { n: number }) => {
        order.push(`handler ${payload.n}`);
        return 'done';
      },
      { schema: z.object({ n: z.coerce.number() }), middleware: [named('job-1'), named('job-2')] },
    );
    expect(await run(job, { n: '7' }, { middleware: [named('worker-1'), named('worker-2')] })).toBe(SUCCESS);
    expect(order).toEqual([
      'worker-1 in job-1 {"n":7}',
      'worker-2 in job-1 {"n":7}',
      'job-1 in job-1 {"n":7}',
      'job-2 in job-1 {"n":7}',
      'handler 7',
      'job-2 out done',
      'job-1 out done',
      'worker-2 out done',
      'worker-1 out done',
    ]);
  });

  it('judges what a middleware throws as it judges a handler’s throw', async () => {
    const handler = () => 'never';
    const retried = await run(
      defineJob('test.job', handler),
      {},
      {
        middleware: [() => Promise.reject(new Error('tenant lookup failed'))],
      },
    );
    expect(retried).toMatchObject({ kind: 'retry', delayMs: 1_000, error: { message: 'tenant lookup failed' } });
    const dead = await run(
      defineJob('test.job', handler),
      {},
      {
        middleware: [
          () => {
            throw new NonRetryableError('no such tenant');
          },
        ],
      },
    );
    expect(dead).toMatchObject({ kind: 'dead', reason: 'non_retryable', error: { message: 'no such tenant' } });
    const thrownString = await run(
      defineJob('test.job', handler),
      {},
      {
        middleware: [
          () => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw 'plain string';
          },
        ],
      },
    );
    expect(thrownString).toMatchObject({
      kind: 'retry',
      error: { message: 'handler threw a non-Error value: "plain string"' },
    });
  });

  it('passes the handler’s failure through a middleware that rethrows it, and lets one turn it into a success', async () => {
    const seen: string[] = [];
    const failing = defineJob('test.job', () => {
      throw new NonRetryableError('bad input');
    });
    const reported = await run(
      failing,
      {},
      {
        middleware: [
          async (_ctx, next) => {
            try {
              return await next();
            } catch (error) {
              seen.push((error as Error).message);
              throw error;
            }
          },
        ],
      },
    );
    expect(reported).toMatchObject({ kind: 'dead', reason: 'non_retryable' });
    expect(seen).toEqual(['bad input']);
    const swallowed = await run(failing, {}, { middleware: [(_ctx, next) => next().catch(() => 'ignored')] });
    expect(swallowed).toBe(SUCCESS);
  });

  it('skips the handler when a middleware does not call next, and refuses a second call to next', async () => {
    let calls = 0;
    const job = defineJob('test.job', () => void (calls += 1));
    expect(await run(job, {}, { middleware: [() => undefined] })).toBe(SUCCESS);
    expect(calls).toBe(0);
    const twice = await run(
      job,
      {},
      {
        middleware: [
          async (_ctx, next) => {
            await next();
            return next();
          },
        ],
      },
    );
    expect(twice).toMatchObject({ kind: 'retry', error: { message: 'a middleware called next() more than once' } });
    expect(calls).toBe(1);
  });

  it('does not run middleware for a payload its schema refuses', async () => {
    let calls = 0;
    const job = defineJob('test.job', () => undefined, { schema: z.object({ n: z.number() }) });
    const verdict = await run(job, { n: 'x' }, { middleware: [(_ctx, next) => ((calls += 1), next())] });
    expect(verdict).toMatchObject({ kind: 'dead', reason: 'invalid_payload' });
    expect(calls).toBe(0);
  });

  it('keeps a synchronous handler synchronous when there is no middleware', () => {
    expect(
      run(
        defineJob('test.job', () => undefined),
        {},
      ),
    ).toBe(SUCCESS);
  });
});

describe('child jobs of a handler (ctx.publish)', () => {
  it('carries the children of a success in its verdict, with ids derived from the parent’s and their order or key', async () => {
    const job = defineJob('order.place', async (_payload, ctx) => {
      expect(ctx.publish('email.send', { to: 'a' })).toBe('job-1/1');
      expect(ctx.publish('invoice.create', { n: 1 }, { key: 'invoice', delayMs: 5_000 })).toBe('job-1/invoice');
      await Promise.resolve();
      ctx.publish('email.send', { to: 'b' });
    });
    const verdict = await run(job, {});
    expect(verdict).toMatchObject({ kind: 'ack', outcome: 'success' });
    const children = verdict.kind === 'ack' ? verdict.children : undefined;
    expect(children?.map((c) => [c.jobType, c.options.messageId, c.parentId])).toEqual([
      ['email.send', 'job-1/1', 'job-1'],
      ['invoice.create', 'job-1/invoice', 'job-1'],
      ['email.send', 'job-1/3', 'job-1'],
    ]);
    expect(children?.[1]?.options.delayMs).toBe(5_000);
  });

  it('sends no children when the handler fails after publishing them', async () => {
    const job = defineJob('order.place', (_payload, ctx) => {
      ctx.publish('email.send', { to: 'a' });
      throw new Error('payment declined');
    });
    const verdict = await run(job, {});
    expect(verdict).toMatchObject({ kind: 'retry', error: { message: 'payment declined' } });
    expect(verdict).not.toHaveProperty('children');
  });

  it('refuses a bad child in the handler, where its error is seen: job type, options, payload, a key used twice', async () => {
    const errors: string[] = [];
    const job = defineJob('order.place', (_payload, ctx) => {
      const attempts: Array<() => unknown> = [
        () => ctx.publish('no spaces allowed', {}),
        () => ctx.publish('email.send', {}, { delayMs: -1 }),
        () => ctx.publish('email.send', { n: 1n }),
        () => ctx.publish('email.send', {}, { messageId: 'mine' } as never),
        () => ctx.publish('email.send', {}, { headers: { 'x-warren-attempt': 3 } }),
        () => (ctx.publish('email.send', {}, { key: 'k' }), ctx.publish('email.send', {}, { key: 'k' })),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
        } catch (error) {
          errors.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
    });
    await run(job, {});
    expect(errors).toEqual([
      expect.stringMatching(
        /^PublishOptionsError: cannot publish a child job: job type "no spaces allowed" is not valid/,
      ),
      expect.stringMatching(/^PublishOptionsError: cannot publish child job "email.send": delayMs must be/),
      expect.stringMatching(
        /^PayloadInvalidError: cannot publish child job "email.send": the payload cannot be encoded as JSON/,
      ),
      expect.stringMatching(/^PublishOptionsError: .*give a key instead of messageId/),
      expect.stringMatching(/^PublishOptionsError: .*header "x-warren-attempt" is in warren's own x-warren- space/),
      'PublishOptionsError: cannot publish child job "email.send": message id job-1/k is already one of this job\'s children (each key names one child)',
    ]);
  });

  it('refuses a child published after the attempt was decided, instead of losing it without a word', async () => {
    let late: (() => string) | undefined;
    const job = defineJob('order.place', (_payload, ctx) => {
      late = () => ctx.publish('email.send', {});
    });
    expect(await run(job, {})).toBe(SUCCESS);
    expect(() => late?.()).toThrow(
      'ctx.publish("email.send") after job job-1 had ended: a child job is published from within its handler (await what publishes it)',
    );
  });

  it('keeps the payload as it was published, whatever the handler does to its object afterwards', async () => {
    const job = defineJob('order.place', (_payload, ctx) => {
      const payload = { to: 'a' };
      ctx.publish('email.send', payload);
      payload.to = 'changed';
    });
    const verdict = await run(job, {});
    expect(verdict.kind === 'ack' && verdict.children?.[0]?.payload).toEqual({ to: 'a' });
  });

  it('de-duplicates a child job by its id, as it does scheduled jobs, without the job being idempotent', async () => {
    let calls = 0;
    const job = defineJob('email.send', () => void (calls += 1));
    const verdict = await run(
      job,
      {},
      { dedup: { isDone: () => Promise.resolve(true) }, headers: { [HEADERS.parent]: 'p' } },
    );
    expect(verdict).toMatchObject({ kind: 'ack', outcome: 'duplicate' });
    expect(calls).toBe(0);
  });
});
