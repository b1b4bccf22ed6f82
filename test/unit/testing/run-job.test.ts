import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, RetryableError, defineJob } from 'warren';
import { runJob } from 'warren/testing';

const tiers = { retryTiersMs: [60_000, 600_000], maxAttempts: 3 };

describe('runJob', () => {
  it('returns success, and gives the handler a complete context', async () => {
    let seen: unknown;
    const result = await runJob(
      defineJob('email.send', (payload: { to: string }, ctx) => {
        seen = {
          payload,
          jobId: ctx.jobId,
          jobType: ctx.jobType,
          attempt: ctx.attempt,
          headers: ctx.headers,
          aborted: ctx.signal.aborted,
          logs: typeof ctx.logger.info,
        };
      }),
      { to: 'a@example.com' },
      { jobId: 'job-7', attempt: 2, headers: { tenant: 't1' } },
    );
    expect(result).toEqual({ outcome: 'success' });
    expect(seen).toEqual({
      payload: { to: 'a@example.com' },
      jobId: 'job-7',
      jobType: 'email.send',
      attempt: 2,
      headers: { tenant: 't1' },
      aborted: false,
      logs: 'function',
    });
  });

  it('returns the retry warren would schedule: the tier of the attempt, a RetryableError delay', async () => {
    const failing = () => {
      throw new Error('smtp down');
    };
    expect(await runJob(failing, {}, { config: tiers })).toMatchObject({
      outcome: 'retry',
      delayMs: 60_000,
      tier: '1m',
      nextAttempt: 2,
      timedOut: false,
      error: { message: 'smtp down' },
    });
    expect(await runJob(failing, {}, { config: tiers, attempt: 2 })).toMatchObject({ tier: '10m', nextAttempt: 3 });
    const later = () => Promise.reject(new RetryableError('rate limited', { delayMs: 120_000 }));
    expect(await runJob(later, {}, { config: tiers })).toMatchObject({ outcome: 'retry', delayMs: 600_000 });
  });

  it('returns a dead letter with its reason: exhausted, non_retryable, invalid_payload (handler never called)', async () => {
    const failing = () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless handler does
      throw 'not an Error';
    };
    expect(await runJob(failing, {}, { config: tiers, attempt: 3 })).toMatchObject({
      outcome: 'dead',
      reason: 'exhausted',
      error: { name: 'NonErrorThrown' },
    });
    expect(
      await runJob(() => {
        throw new NonRetryableError('unknown customer');
      }, {}),
    ).toMatchObject({ outcome: 'dead', reason: 'non_retryable' });
    let calls = 0;
    const typed = defineJob('order.process', () => void (calls += 1), { schema: z.object({ orderId: z.number() }) });
    const invalid = await runJob(typed, { orderId: 'seven' } as unknown as { orderId: number });
    expect(invalid).toMatchObject({ outcome: 'dead', reason: 'invalid_payload' });
    expect(calls).toBe(0);
  });

  it("times a handler out with the job's own timeout, aborting its signal", async () => {
    let aborted = false;
    const slow = defineJob(
      'slow.job',
      (_payload, ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
      { timeoutMs: 20 },
    );
    expect(await runJob(slow, {})).toMatchObject({
      outcome: 'retry',
      timedOut: true,
      error: { name: 'JobTimeoutError' },
    });
    expect(aborted).toBe(true);
  });

  it('passes an abort of the given signal on to ctx.signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    let abortedAtStart: boolean | undefined;
    await runJob((_payload, ctx) => void (abortedAtStart = ctx.signal.aborted), {}, { signal: controller.signal });
    expect(abortedAtStart).toBe(true);
  });
});
