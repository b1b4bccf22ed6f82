import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, RetryableError, defineJob, defineSchedule, type JobContext } from 'warren';
import { createTestHarness } from 'warren/testing';

const START = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number): Date => new Date(START.getTime() + ms);

describe('createTestHarness: virtual time', () => {
  it('retries a job that fails twice through tiers 1m and 10m at +1m and +11m, with no real waiting', async () => {
    let calls = 0;
    const flaky = defineJob('report.build', () => {
      calls += 1;
      if (calls <= 2) throw new Error(`attempt ${calls} failed`);
    });
    const harness = createTestHarness({
      handlers: [flaky],
      config: { retryTiersMs: [60_000, 600_000] },
      startAt: START,
    });
    const started = performance.now();
    const jobId = await harness.publish('report.build', { month: '2026-02' });
    await harness.advance('30s');
    expect(harness.handled().map((h) => h.outcome)).toEqual(['retry']);
    await harness.advance('11m');
    const handled = harness.handled('report.build');
    expect(handled.map((h) => [h.attempt, h.outcome, h.startedAt.toISOString()])).toEqual([
      [1, 'retry', at(0).toISOString()],
      [2, 'retry', at(60_000).toISOString()],
      [3, 'success', at(660_000).toISOString()],
    ]);
    expect(handled.map((h) => h.tier)).toEqual(['1m', '10m', undefined]);
    expect(handled.every((h) => h.jobId === jobId)).toBe(true);
    expect(handled[0]?.error?.message).toBe('attempt 1 failed');
    expect(harness.now().toISOString()).toBe(at(30_000 + 660_000).toISOString());
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('runs nothing of a later tier before its time: advance stops where it is told', async () => {
    const failing = defineJob('always.fails', () => {
      throw new Error('no');
    });
    const harness = createTestHarness({
      handlers: [failing],
      config: { retryTiersMs: [60_000, 600_000], maxAttempts: 3 },
      startAt: START,
    });
    await harness.publish('always.fails', {});
    await harness.advance(59_999);
    expect(harness.handled()).toHaveLength(1);
    await harness.advance(1);
    expect(harness.handled()).toHaveLength(2);
    await harness.advance('10m');
    expect(harness.handled().map((h) => h.outcome)).toEqual(['retry', 'retry', 'dead']);
    const [dead] = harness.deadLetters('always.fails');
    expect(dead).toMatchObject({
      source: 'warren',
      reason: 'exhausted',
      attempts: 3,
      errorName: 'Error',
      errorMessage: 'no',
      originalQueue: 'warren.job.always.fails',
      originalRoutingKey: 'always.fails',
      firstFailureAt: at(0).toISOString(),
      lastFailureAt: at(660_000).toISOString(),
      body: '{}',
    });
  });

  it('drain runs until nothing is due, moving the clock to each retry', async () => {
    const failing = defineJob('drain.me', (_payload: unknown, ctx: JobContext) => {
      if (ctx.attempt < 4) throw new Error('later');
    });
    const harness = createTestHarness({ handlers: [failing], startAt: START });
    await harness.publish('drain.me', {});
    await harness.drain();
    // Default tiers: 1s, 5s, 30s.
    expect(harness.handled().map((h) => h.startedAt.getTime() - START.getTime())).toEqual([0, 1_000, 6_000, 36_000]);
    expect(harness.handled().at(-1)?.outcome).toBe('success');
  });

  it('RetryableError picks the smallest tier at or above its delay; NonRetryableError dead-letters at once', async () => {
    const harness = createTestHarness({
      handlers: [
        defineJob('rate.limited', (_p: unknown, ctx: JobContext) => {
          if (ctx.attempt === 1) throw new RetryableError('429', { delayMs: 20_000 });
        }),
        defineJob('bad.input', () => {
          throw new NonRetryableError('account closed');
        }),
      ],
      startAt: START,
    });
    await harness.publish('rate.limited', {});
    await harness.publish('bad.input', { account: 7 });
    await harness.drain();
    expect(harness.handled('rate.limited').map((h) => [h.outcome, h.delayMs])).toEqual([
      ['retry', 30_000],
      ['success', undefined],
    ]);
    expect(harness.handled('bad.input').map((h) => [h.outcome, h.reason])).toEqual([['dead', 'non_retryable']]);
    expect(harness.deadLetters('bad.input')[0]).toMatchObject({ reason: 'non_retryable', attempts: 1 });
  });

  it('a handler that never settles is aborted at its timeout on the virtual clock, and retried', async () => {
    const aborted: unknown[] = [];
    const hangs = defineJob(
      'never.settles',
      (_p: unknown, ctx: JobContext) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => aborted.push(ctx.signal.reason));
        }),
      { timeoutMs: 120_000, retry: { maxAttempts: 2, tiers: ['1m'] } },
    );
    const harness = createTestHarness({ handlers: [hangs], startAt: START, idleMs: 5 });
    await harness.publish('never.settles', {});
    await harness.advance('1m');
    expect(harness.handled()).toHaveLength(0);
    await harness.advance('1m');
    expect(harness.handled().map((h) => [h.outcome, h.timedOut, h.settledAt.toISOString()])).toEqual([
      ['retry', true, at(120_000).toISOString()],
    ]);
    expect(aborted).toHaveLength(1);
    await harness.drain();
    expect(harness.handled().map((h) => h.outcome)).toEqual(['retry', 'dead']);
    expect(harness.deadLetters('never.settles')[0]?.errorName).toBe('JobTimeoutError');
  });

  it('waits for a handler doing real asynchronous work before the clock moves on', async () => {
    const slow = defineJob('slow.io', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error('after io');
    });
    const harness = createTestHarness({
      handlers: [slow],
      config: { retryTiersMs: [60_000], maxAttempts: 2 },
      startAt: START,
    });
    await harness.publish('slow.io', {});
    await harness.advance('2m');
    // Its retry is due 1 min after it failed at +0, not after the clock had jumped.
    expect(harness.handled().map((h) => h.startedAt.getTime() - START.getTime())).toEqual([0, 60_000]);
  });
});

describe('createTestHarness: the broker path', () => {
  it('dead-letters a payload its schema refuses without running the handler, with the reason', async () => {
    let ran = 0;
    const job = defineJob(
      'email.send',
      () => {
        ran += 1;
      },
      { schema: z.object({ to: z.email() }) },
    );
    const harness = createTestHarness({ handlers: [job] });
    await harness.publish('email.send', { to: 'not an address' });
    await harness.drain();
    expect(ran).toBe(0);
    expect(harness.handled().map((h) => [h.outcome, h.reason])).toEqual([['invalid', 'invalid_payload']]);
    const [letter] = harness.deadLetters('email.send');
    expect(letter?.reason).toBe('invalid_payload');
    expect(letter?.errorMessage).toMatch(/to/);
  });

  it('refuses an unknown job type, bad options and a payload that is no JSON, as a client does', async () => {
    const harness = createTestHarness({
      handlers: [defineJob('known.job', () => {})],
      config: { maxPayloadBytes: 64 },
    });
    await expect(harness.publish('unknown.job', {})).rejects.toMatchObject({ code: 'WARREN_ERR_UNROUTABLE' });
    await expect(harness.publish('unknown.job', {}, { delayMs: 1000 })).rejects.toMatchObject({
      code: 'WARREN_ERR_UNROUTABLE',
    });
    await expect(harness.publish('', {})).rejects.toMatchObject({ code: 'WARREN_ERR_PUBLISH_OPTIONS' });
    await expect(harness.publish('known.job', {}, { delayMs: -1 })).rejects.toThrow(/delayMs must be/);
    await expect(harness.publish('known.job', {}, { headers: { 'x-warren-attempt': 3 } })).rejects.toThrow(
      /warren's own/,
    );
    await expect(harness.publish('known.job', 10n)).rejects.toMatchObject({ code: 'WARREN_ERR_PAYLOAD_INVALID' });
    await expect(harness.publish('known.job', { text: 'x'.repeat(100) })).rejects.toMatchObject({
      code: 'WARREN_ERR_PAYLOAD_TOO_LARGE',
    });
    expect(harness.published()).toHaveLength(0);
  });

  it('holds a job type to its concurrency', async () => {
    let running = 0;
    let peak = 0;
    const job = defineJob(
      'image.resize',
      async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running -= 1;
      },
      { concurrency: 2 },
    );
    const harness = createTestHarness({ handlers: [job] });
    for (let i = 0; i < 7; i += 1) await harness.publish('image.resize', { i });
    await harness.drain();
    expect(peak).toBe(2);
    expect(harness.handled()).toHaveLength(7);
  });

  it('runs an idempotent job once per message id, for as long as dedupTtlMs', async () => {
    let runs = 0;
    const job = defineJob(
      'invoice.charge',
      () => {
        runs += 1;
      },
      { idempotent: true },
    );
    const harness = createTestHarness({ handlers: [job], config: { dedupTtlMs: 3_600_000 }, startAt: START });
    await harness.publish('invoice.charge', { id: 1 }, { messageId: 'invoice-1' });
    await harness.drain();
    await harness.publish('invoice.charge', { id: 1 }, { messageId: 'invoice-1' });
    await harness.drain();
    expect(runs).toBe(1);
    expect(harness.handled().map((h) => h.outcome)).toEqual(['success', 'duplicate']);
    await harness.advance('61m');
    await harness.publish('invoice.charge', { id: 1 }, { messageId: 'invoice-1' });
    await harness.drain();
    expect(runs).toBe(2);
  });

  it('delivers a delayed job at the whole second its delay ends on', async () => {
    const job = defineJob('reminder.send', () => {});
    const harness = createTestHarness({ handlers: [job], startAt: new Date('2026-03-01T12:00:00.250Z') });
    await harness.publish('reminder.send', {}, { delayMs: 90_500 });
    await harness.publish('reminder.send', { when: 'at' }, { runAt: new Date('2026-03-01T13:00:00.000Z') });
    const [delayed] = harness.published();
    expect(delayed?.headers['x-warren-due-at']).toBe('2026-03-01T12:01:30.750Z');
    await harness.advance('90s');
    expect(harness.handled()).toHaveLength(0);
    await harness.advance('1s');
    expect(harness.handled().map((h) => h.startedAt.toISOString())).toEqual(['2026-03-01T12:01:31.250Z']);
    await harness.drain();
    expect(harness.handled().at(-1)?.startedAt.toISOString()).toBe('2026-03-01T13:00:00.250Z');
  });

  it('fires a schedule at each cron time, once, with the fire message id, de-duplicated like the scheduler', async () => {
    const job = defineJob('cleanup.run', () => {});
    const harness = createTestHarness({
      handlers: [job],
      schedules: [
        defineSchedule({ name: 'nightly', cron: '0 3 * * *', jobType: 'cleanup.run', payload: { full: true } }),
      ],
      startAt: new Date('2026-03-01T00:00:00.000Z'),
    });
    await harness.advance('2d');
    expect(harness.fires().map((f) => [f.jobId, f.outcome])).toEqual([
      ['nightly@2026-03-01T03:00:00.000Z', 'published'],
      ['nightly@2026-03-02T03:00:00.000Z', 'published'],
    ]);
    expect(harness.handled('cleanup.run').map((h) => [h.jobId, h.payload, h.outcome])).toEqual([
      ['nightly@2026-03-01T03:00:00.000Z', { full: true }, 'success'],
      ['nightly@2026-03-02T03:00:00.000Z', { full: true }, 'success'],
    ]);
    // A second publish of a fire (another replica's, a retried publish) is a duplicate.
    await harness.publish(
      'cleanup.run',
      { full: true },
      { messageId: 'nightly@2026-03-02T03:00:00.000Z', schedule: 'nightly' },
    );
    await harness.drain();
    expect(harness.handled().at(-1)?.outcome).toBe('duplicate');
  });

  it('records a fire whose job type has no handler as a publish error', async () => {
    const harness = createTestHarness({
      handlers: [],
      schedules: [{ name: 'orphan', cron: '*/10 * * * * *', jobType: 'nobody.handles' }],
      startAt: START,
    });
    await harness.advance('20s');
    expect(harness.fires().map((f) => [f.outcome, f.error?.name])).toEqual([
      ['publish_error', 'UnroutableError'],
      ['publish_error', 'UnroutableError'],
    ]);
  });

  it('waitFor runs until the condition holds, and says why when it cannot', async () => {
    const harness = createTestHarness({
      handlers: [
        defineJob('twice.failing', (_p: unknown, ctx: JobContext) => {
          if (ctx.attempt < 3) throw new Error('x');
        }),
      ],
      startAt: START,
    });
    await harness.publish('twice.failing', {});
    await harness.waitFor((h) => h.handled().length === 2);
    expect(harness.now().getTime() - START.getTime()).toBe(1_000);
    await expect(harness.waitFor((h) => h.handled().length === 10)).rejects.toThrow(
      /still false with nothing left to run; 3 deliveries handled/,
    );
  });

  it('gives every handler a full context', async () => {
    const seen: JobContext[] = [];
    const harness = createTestHarness({
      handlers: [defineJob('ctx.job', (_p: unknown, ctx: JobContext) => void seen.push(ctx))],
    });
    await harness.publish('ctx.job', {}, { messageId: 'm-1', headers: { tenant: 'acme' } });
    await harness.drain();
    expect(seen[0]).toMatchObject({ jobId: 'm-1', jobType: 'ctx.job', attempt: 1, headers: { tenant: 'acme' } });
    expect(seen[0]?.signal.aborted).toBe(false);
    expect(typeof seen[0]?.logger.info).toBe('function');
  });
});

describe('createTestHarness: the real clock', () => {
  it('runs jobs and retries on real timers; advance is refused', async () => {
    const harness = createTestHarness({
      clock: 'real',
      handlers: [
        defineJob('real.job', (_p: unknown, ctx: JobContext) => {
          if (ctx.attempt === 1) throw new Error('once');
        }),
      ],
      config: { retryTiersMs: [50] },
    });
    try {
      const before = Date.now();
      await harness.publish('real.job', {});
      await harness.drain({ timeoutMs: 5_000 });
      expect(harness.handled().map((h) => h.outcome)).toEqual(['retry', 'success']);
      expect(Date.now() - before).toBeGreaterThanOrEqual(50);
      await expect(harness.advance('1m')).rejects.toMatchObject({ code: 'WARREN_ERR_ILLEGAL_STATE' });
    } finally {
      await harness.close();
    }
  });
});
