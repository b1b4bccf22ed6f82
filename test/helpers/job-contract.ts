import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  NonRetryableError,
  RetryableError,
  defineJob,
  defineSchedule,
  type DeadLetterContext,
  type JobContext,
  type JobDefinition,
  type JobMiddleware,
  type PublishOptions,
  type ScheduleDefinition,
  type WarrenConfig,
} from 'warren';

/**
 * The contract between warren's two engines: the same scenarios, run against the local job queue of `warren/testing`
 * and against a worker on RabbitMQ, asserting the same observable results. Time is the engine's own (virtual for
 * the harness, the wall clock for the broker); the broker's timings get `toleranceMs` on top.
 */
export interface ContractEngine {
  readonly name: string;
  /** Slack on every upper bound of a time (a broker's delivery and confirm round trips); 0 for the harness. */
  readonly toleranceMs: number;
  /** Starts the engine; `middleware` goes around every handler, as `worker.use()` adds it. */
  start(
    jobs: readonly JobDefinition[],
    schedules: readonly ScheduleDefinition[],
    config: Partial<WarrenConfig>,
    middleware: readonly JobMiddleware[],
  ): Promise<void>;
  publish(jobType: string, payload: unknown, options?: PublishOptions): Promise<string>;
  /** Runs (or waits) until `check` holds; rejects naming `what` when it does not in time. */
  until(what: string, check: () => boolean): Promise<void>;
  /** Milliseconds on the engine's clock. */
  now(): number;
  /** How each delivery of a job type was settled, in order: `success`, `retry`, `dead`, `invalid`, `duplicate`. */
  outcomes(jobType: string): readonly string[];
  deadLetters(jobType: string): Promise<readonly DeadLetterContext[]>;
  stop(): Promise<void>;
}

/** One call of a scenario's handler. */
interface Call {
  readonly jobId: string;
  readonly attempt: number;
  readonly at: number;
  readonly payload: unknown;
  /** The `x-warren-parent` header: the job that published this one with `ctx.publish`. */
  readonly parent: unknown;
}

const TIERS_MS = [1_000, 2_000];
const TIMEOUT_MS = 300;
const SLOW_MS = 100;

/** The dead-letter fields both engines must agree on (the broker adds its own bookkeeping: x-death, host, pid). */
const AGREED = [
  'source',
  'reason',
  'attempts',
  'errorName',
  'errorMessage',
  'originalQueue',
  'originalRoutingKey',
  'type',
  'contentType',
  'body',
] as const;

function contextOf(letter: DeadLetterContext | undefined): Record<string, unknown> {
  if (letter === undefined) return {};
  return Object.fromEntries(AGREED.map((field) => [field, letter[field]]));
}

/** The contract suite against one engine. */
export function jobContract(engine: ContractEngine): void {
  const calls = new Map<string, Call[]>();
  let engineRef: ContractEngine;
  let concurrent = 0;
  let peak = 0;
  const record = (jobType: string, payload: unknown, ctx: JobContext): void => {
    const list = calls.get(jobType) ?? [];
    list.push({
      jobId: ctx.jobId,
      attempt: ctx.attempt,
      at: engineRef.now(),
      payload,
      parent: ctx.headers['x-warren-parent'],
    });
    calls.set(jobType, list);
  };
  const called = (jobType: string): readonly Call[] => calls.get(jobType) ?? [];
  const gaps = (jobType: string): number[] =>
    called(jobType)
      .slice(1)
      .map((call, i) => call.at - (called(jobType)[i] as Call).at);
  const aborts: number[] = [];
  /** What the middleware and the handler of `contract.wrapped` did, in order. */
  const wrapped: string[] = [];
  const workerMiddleware: JobMiddleware[] = [
    async (ctx, next) => {
      if (ctx.jobType !== 'contract.wrapped') return next();
      if ((ctx.payload as { refuse?: boolean }).refuse) throw new NonRetryableError('refused by a middleware');
      wrapped.push(`worker in ${ctx.attempt}`);
      try {
        return await next();
      } finally {
        wrapped.push('worker out');
      }
    },
  ];

  const jobs: JobDefinition[] = [
    defineJob('contract.success', (payload: unknown, ctx: JobContext) => record('contract.success', payload, ctx)),
    defineJob('contract.flaky', (payload: unknown, ctx: JobContext) => {
      record('contract.flaky', payload, ctx);
      if (ctx.attempt <= 2) throw new Error(`attempt ${ctx.attempt} failed`);
    }),
    defineJob('contract.rate-limited', (payload: unknown, ctx: JobContext) => {
      record('contract.rate-limited', payload, ctx);
      if (ctx.attempt === 1) throw new RetryableError('slow down', { delayMs: 1_500 });
    }),
    defineJob('contract.refused', (payload: unknown, ctx: JobContext) => {
      record('contract.refused', payload, ctx);
      throw new NonRetryableError('account closed');
    }),
    defineJob('contract.schema', (payload: unknown, ctx: JobContext) => record('contract.schema', payload, ctx), {
      schema: z.object({ email: z.email() }),
    }),
    defineJob(
      'contract.hangs',
      (payload: unknown, ctx: JobContext) => {
        record('contract.hangs', payload, ctx);
        const started = engineRef.now();
        return new Promise(() => {
          ctx.signal.addEventListener('abort', () => aborts.push(engineRef.now() - started));
        });
      },
      { timeoutMs: TIMEOUT_MS, retry: { maxAttempts: 2 } },
    ),
    defineJob('contract.exhausted', (payload: unknown, ctx: JobContext) => {
      record('contract.exhausted', payload, ctx);
      throw new TypeError('always broken');
    }),
    defineJob(
      'contract.idempotent',
      (payload: unknown, ctx: JobContext) => record('contract.idempotent', payload, ctx),
      { idempotent: true },
    ),
    defineJob('contract.delayed', (payload: unknown, ctx: JobContext) => record('contract.delayed', payload, ctx)),
    defineJob('contract.cron', (payload: unknown, ctx: JobContext) => record('contract.cron', payload, ctx)),
    defineJob('contract.parent', (payload: unknown, ctx: JobContext) => {
      record('contract.parent', payload, ctx);
      ctx.publish('contract.child', { from: ctx.jobId, n: 1 });
      ctx.publish('contract.child', { from: ctx.jobId, n: 2 }, { key: 'second' });
      if ((payload as { failFirst?: boolean }).failFirst && ctx.attempt === 1)
        throw new Error('failed after publishing');
    }),
    defineJob('contract.child', (payload: unknown, ctx: JobContext) => record('contract.child', payload, ctx)),
    defineJob(
      'contract.misnamed',
      (payload: unknown, ctx: JobContext) => {
        record('contract.misnamed', payload, ctx);
        ctx.publish('Contract Child', {});
      },
      { retry: { maxAttempts: 3 } },
    ),
    defineJob(
      'contract.orphans',
      (payload: unknown, ctx: JobContext) => {
        record('contract.orphans', payload, ctx);
        ctx.publish('contract.nobody', {});
      },
      { retry: { maxAttempts: 2 } },
    ),
    defineJob(
      'contract.wrapped',
      (payload: unknown, ctx: JobContext) => {
        record('contract.wrapped', payload, ctx);
        wrapped.push('handler');
      },
      {
        middleware: [
          async (_ctx, next) => {
            wrapped.push('job in');
            const result = await next();
            wrapped.push('job out');
            return result;
          },
        ],
      },
    ),
    defineJob(
      'contract.limited',
      async (payload: unknown, ctx: JobContext) => {
        record('contract.limited', payload, ctx);
        concurrent += 1;
        peak = Math.max(peak, concurrent);
        await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
        concurrent -= 1;
      },
      { concurrency: 2 },
    ),
  ];
  const schedules = [
    defineSchedule({
      name: 'contract-every-second',
      cron: '* * * * * *',
      jobType: 'contract.cron',
      payload: { tick: true },
    }),
  ];

  describe(`the job contract on ${engine.name}`, () => {
    beforeAll(async () => {
      engineRef = engine;
      await engine.start(
        jobs,
        schedules,
        { retryTiersMs: TIERS_MS, maxAttempts: 3, dedupTtlMs: 600_000 },
        workerMiddleware,
      );
    });
    afterAll(async () => {
      await engine.stop();
    });

    it('success: the handler runs once with the payload at attempt 1', async () => {
      const jobId = await engine.publish('contract.success', { n: 1 });
      await engine.until('a success', () => engine.outcomes('contract.success').length === 1);
      expect(engine.outcomes('contract.success')).toEqual(['success']);
      expect(called('contract.success').map((c) => [c.jobId, c.attempt, c.payload])).toEqual([[jobId, 1, { n: 1 }]]);
    });

    it('retries go through the tiers in order, each after its delay, then succeed', async () => {
      await engine.publish('contract.flaky', {});
      await engine.until('three deliveries', () => engine.outcomes('contract.flaky').length === 3);
      expect(engine.outcomes('contract.flaky')).toEqual(['retry', 'retry', 'success']);
      expect(called('contract.flaky').map((c) => c.attempt)).toEqual([1, 2, 3]);
      const [first, second] = gaps('contract.flaky');
      expect(first).toBeGreaterThanOrEqual(1_000);
      expect(first).toBeLessThanOrEqual(1_000 + engine.toleranceMs);
      expect(second).toBeGreaterThanOrEqual(2_000);
      expect(second).toBeLessThanOrEqual(2_000 + engine.toleranceMs);
    });

    it('RetryableError({ delayMs }) waits in the smallest tier at or above its delay', async () => {
      await engine.publish('contract.rate-limited', {});
      await engine.until('two deliveries', () => engine.outcomes('contract.rate-limited').length === 2);
      expect(engine.outcomes('contract.rate-limited')).toEqual(['retry', 'success']);
      const [gap] = gaps('contract.rate-limited');
      expect(gap).toBeGreaterThanOrEqual(2_000);
      expect(gap).toBeLessThanOrEqual(2_000 + engine.toleranceMs);
    });

    it('NonRetryableError dead-letters at once, with its reason and error', async () => {
      const jobId = await engine.publish('contract.refused', { account: 7 });
      await engine.until('a dead letter', () => engine.outcomes('contract.refused').length === 1);
      expect(engine.outcomes('contract.refused')).toEqual(['dead']);
      const letters = await engine.deadLetters('contract.refused');
      expect(letters.map((l) => l.messageId)).toEqual([jobId]);
      expect(contextOf(letters[0])).toEqual({
        source: 'warren',
        reason: 'non_retryable',
        attempts: 1,
        errorName: 'NonRetryableError',
        errorMessage: 'account closed',
        originalQueue: expect.stringMatching(/\.job\.contract\.refused$/) as unknown,
        originalRoutingKey: 'contract.refused',
        type: 'contract.refused',
        contentType: 'application/json',
        body: '{"account":7}',
      });
    });

    it('a schema violation is dead-lettered as invalid_payload; the handler never runs', async () => {
      await engine.publish('contract.schema', { email: 'not an address' });
      await engine.until('an invalid delivery', () => engine.outcomes('contract.schema').length === 1);
      expect(engine.outcomes('contract.schema')).toEqual(['invalid']);
      expect(called('contract.schema')).toEqual([]);
      const [letter] = await engine.deadLetters('contract.schema');
      expect(contextOf(letter)).toMatchObject({ source: 'warren', reason: 'invalid_payload', attempts: 1 });
      expect(letter?.errorMessage).toMatch(/email/);
    });

    it('a handler past its timeout has its signal aborted and is retried, then dead-lettered', async () => {
      await engine.publish('contract.hangs', {});
      await engine.until('two timed-out deliveries', () => engine.outcomes('contract.hangs').length === 2);
      expect(engine.outcomes('contract.hangs')).toEqual(['retry', 'dead']);
      expect(aborts).toHaveLength(2);
      // On the wall clock, a millisecond early at most: Node counts a timer from the event loop's cached time, which
      // can be up to a millisecond before the handler read the clock (seen once: 299 ms for 300).
      const early = engine.toleranceMs > 0 ? 1 : 0;
      for (const after of aborts) {
        expect(after).toBeGreaterThanOrEqual(TIMEOUT_MS - early);
        expect(after).toBeLessThanOrEqual(TIMEOUT_MS + engine.toleranceMs);
      }
      const [letter] = await engine.deadLetters('contract.hangs');
      expect(contextOf(letter)).toMatchObject({ reason: 'exhausted', attempts: 2, errorName: 'JobTimeoutError' });
      expect(letter?.errorMessage).toMatch(/ran past its timeout of 300 ms/);
    });

    it('exhausted attempts: dead-lettered after maxAttempts, the first and last failure times apart by the tiers', async () => {
      await engine.publish('contract.exhausted', { x: 1 });
      await engine.until('three deliveries', () => engine.outcomes('contract.exhausted').length === 3);
      expect(engine.outcomes('contract.exhausted')).toEqual(['retry', 'retry', 'dead']);
      const [letter] = await engine.deadLetters('contract.exhausted');
      expect(contextOf(letter)).toEqual({
        source: 'warren',
        reason: 'exhausted',
        attempts: 3,
        errorName: 'TypeError',
        errorMessage: 'always broken',
        originalQueue: expect.stringMatching(/\.job\.contract\.exhausted$/) as unknown,
        originalRoutingKey: 'contract.exhausted',
        type: 'contract.exhausted',
        contentType: 'application/json',
        body: '{"x":1}',
      });
      const span = Date.parse(letter?.lastFailureAt ?? '') - Date.parse(letter?.firstFailureAt ?? '');
      expect(span).toBeGreaterThanOrEqual(3_000);
      expect(span).toBeLessThanOrEqual(3_000 + 2 * engine.toleranceMs);
    });

    it('an idempotent job published twice with one message id runs once', async () => {
      await engine.publish('contract.idempotent', { n: 1 }, { messageId: 'contract-idem-1' });
      await engine.until('the first delivery', () => engine.outcomes('contract.idempotent').length === 1);
      await engine.publish('contract.idempotent', { n: 1 }, { messageId: 'contract-idem-1' });
      await engine.until('the second delivery', () => engine.outcomes('contract.idempotent').length === 2);
      expect(engine.outcomes('contract.idempotent')).toEqual(['success', 'duplicate']);
      expect(called('contract.idempotent')).toHaveLength(1);
    });

    it('a delayed job runs no earlier than its delay, at the whole second', async () => {
      const publishedAt = engine.now();
      await engine.publish('contract.delayed', {}, { delayMs: 2_000 });
      await engine.until('the delayed job', () => engine.outcomes('contract.delayed').length === 1);
      const after = (called('contract.delayed')[0]?.at ?? 0) - publishedAt;
      expect(after).toBeGreaterThanOrEqual(2_000);
      expect(after).toBeLessThanOrEqual(3_000 + engine.toleranceMs);
    });

    it('a cron schedule fires every second, each fire once, with message id <schedule>@<fire time>', async () => {
      await engine.until('three fires handled', () => engine.outcomes('contract.cron').length >= 3);
      const fires = called('contract.cron').slice(0, 3);
      const times = fires.map((c) => {
        const [name, time] = c.jobId.split('@');
        expect(name).toBe('contract-every-second');
        expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
        return Date.parse(time ?? '');
      });
      expect(times[1]! - times[0]!).toBe(1_000);
      expect(times[2]! - times[1]!).toBe(1_000);
      expect(fires.map((c) => c.payload)).toEqual([{ tick: true }, { tick: true }, { tick: true }]);
      expect(new Set(called('contract.cron').map((c) => c.jobId)).size).toBe(called('contract.cron').length);
    });

    it('a job type with concurrency 2 never runs 3 at once', async () => {
      for (let i = 0; i < 6; i += 1) await engine.publish('contract.limited', { i });
      await engine.until('six deliveries', () => engine.outcomes('contract.limited').length === 6);
      expect(engine.outcomes('contract.limited')).toEqual(Array(6).fill('success'));
      expect(peak).toBe(2);
    });

    it('middleware: the worker’s around the job’s around the handler; what one throws is judged as a handler’s throw', async () => {
      await engine.publish('contract.wrapped', {});
      await engine.until('the wrapped job', () => engine.outcomes('contract.wrapped').length === 1);
      expect(wrapped).toEqual(['worker in 1', 'job in', 'handler', 'job out', 'worker out']);
      const refused = await engine.publish('contract.wrapped', { refuse: true });
      await engine.until('the refused job', () => engine.outcomes('contract.wrapped').length === 2);
      expect(engine.outcomes('contract.wrapped')).toEqual(['success', 'dead']);
      expect(called('contract.wrapped')).toHaveLength(1);
      const letters = await engine.deadLetters('contract.wrapped');
      expect(letters.map((l) => [l.messageId, l.reason, l.errorName, l.errorMessage])).toEqual([
        [refused, 'non_retryable', 'NonRetryableError', 'refused by a middleware'],
      ]);
    });

    it('child jobs: none from a failed attempt; those of the success run with ids derived from the parent’s', async () => {
      const parent = await engine.publish('contract.parent', { failFirst: true });
      await engine.until('two children', () => called('contract.child').length === 2);
      expect(engine.outcomes('contract.parent')).toEqual(['retry', 'success']);
      expect(
        called('contract.child')
          .map((c) => [c.jobId, c.payload, c.parent, c.attempt])
          .sort(),
      ).toEqual([
        [`${parent}/1`, { from: parent, n: 1 }, parent, 1],
        [`${parent}/second`, { from: parent, n: 2 }, parent, 1],
      ]);
    });

    it('child jobs: a parent that runs twice publishes the same ids, and each child runs once', async () => {
      const parent = await engine.publish('contract.parent', {}, { messageId: 'contract-parent-twice' });
      await engine.until('the first parent', () => engine.outcomes('contract.parent').length === 3);
      await engine.publish('contract.parent', {}, { messageId: 'contract-parent-twice' });
      await engine.until('four child deliveries', () => engine.outcomes('contract.child').length === 6);
      expect(engine.outcomes('contract.parent').slice(2)).toEqual(['success', 'success']);
      const mine = called('contract.child').filter((c) => (c.payload as { from: string }).from === parent);
      expect(mine.map((c) => c.jobId).sort()).toEqual([`${parent}/1`, `${parent}/second`]);
      expect([...engine.outcomes('contract.child').slice(2)].sort()).toEqual([
        'duplicate',
        'duplicate',
        'success',
        'success',
      ]);
    });

    it('child jobs: one that cannot be routed fails its parent, retried and then dead-lettered', async () => {
      const parent = await engine.publish('contract.orphans', {});
      await engine.until('two attempts', () => engine.outcomes('contract.orphans').length === 2);
      expect(engine.outcomes('contract.orphans')).toEqual(['retry', 'dead']);
      const [letter] = await engine.deadLetters('contract.orphans');
      expect(contextOf(letter)).toMatchObject({ reason: 'exhausted', attempts: 2, errorName: 'ChildPublishError' });
      expect(letter?.errorMessage).toMatch(
        new RegExp(
          `^1 of 1 child jobs were not confirmed, so job ${parent} is not acknowledged; the first, contract.nobody ${parent}/1: message ${parent}/1 was returned: no queue is bound to `,
        ),
      );
    });

    it('child jobs: one published with an invalid job type dead-letters its parent at once (non_retryable)', async () => {
      await engine.publish('contract.misnamed', {});
      await engine.until('its dead letter', () => engine.outcomes('contract.misnamed').length === 1);
      expect(engine.outcomes('contract.misnamed')).toEqual(['dead']);
      expect(called('contract.misnamed')).toHaveLength(1);
      const [letter] = await engine.deadLetters('contract.misnamed');
      expect(contextOf(letter)).toMatchObject({
        reason: 'non_retryable',
        attempts: 1,
        errorName: 'PublishOptionsError',
      });
      expect(letter?.errorMessage).toMatch(/^cannot publish a child job: .*Contract Child/);
    });

    it('a job type without a handler is refused at publish as unroutable', async () => {
      await expect(engine.publish('contract.nobody', {})).rejects.toMatchObject({ code: 'WARREN_ERR_UNROUTABLE' });
    });
  });
}
