import { describe, expect, it } from 'vitest';
import { NonRetryableError, PublishOptionsError, RetryableError, RegistrationError, DEFAULT_CONFIG } from 'warren';
import { decide } from '../../../src/retry/decide.js';
import { resolveRetryPolicy } from '../../../src/retry/retry-policy.js';

const policy = { maxAttempts: 5, tiersMs: [1_000, 2_000, 4_000] };

describe('decide', () => {
  it('waits in tier n after attempt n, the last tier repeating', () => {
    expect(decide(new Error('x'), 1, policy)).toEqual({ kind: 'retry', delayMs: 1_000 });
    expect(decide(new Error('x'), 2, policy)).toEqual({ kind: 'retry', delayMs: 2_000 });
    expect(decide(new Error('x'), 3, policy)).toEqual({ kind: 'retry', delayMs: 4_000 });
    expect(decide(new Error('x'), 4, policy)).toEqual({ kind: 'retry', delayMs: 4_000 });
  });

  it('dead-letters the last allowed attempt as exhausted, and non-retryable errors at once', () => {
    expect(decide(new Error('x'), 5, policy)).toEqual({ kind: 'dead', reason: 'exhausted' });
    expect(decide(new NonRetryableError('no'), 1, policy)).toEqual({ kind: 'dead', reason: 'non_retryable' });
    expect(decide(new Error('x'), 1, { maxAttempts: 1, tiersMs: [1_000] })).toEqual({
      kind: 'dead',
      reason: 'exhausted',
    });
  });

  it('dead-letters a publish the handler made with invalid arguments at once: no attempt would send it', () => {
    const error = new PublishOptionsError('cannot publish a child job: job type "Bad Type" is not valid');
    expect(decide(error, 1, policy)).toEqual({ kind: 'dead', reason: 'non_retryable' });
    // Other failures to publish (not confirmed, buffer full) are transient: retried.
    expect(decide(Object.assign(new Error('x'), { code: 'WARREN_ERR_CHILD_PUBLISH' }), 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 1_000,
    });
  });

  it('RetryableError({ delayMs }) takes the smallest tier at or above it, else the largest', () => {
    expect(decide(new RetryableError('later', { delayMs: 1_500 }), 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 2_000,
    });
    expect(decide(new RetryableError('later', { delayMs: 2_000 }), 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 2_000,
    });
    expect(decide(new RetryableError('later', { delayMs: 60_000 }), 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 4_000,
    });
    expect(decide(new RetryableError('now'), 3, policy)).toEqual({ kind: 'retry', delayMs: 4_000 });
    // Still bounded by maxAttempts.
    expect(decide(new RetryableError('later', { delayMs: 1 }), 5, policy)).toEqual({
      kind: 'dead',
      reason: 'exhausted',
    });
  });
});

describe('resolveRetryPolicy', () => {
  it('takes the settings by default and durations per job', () => {
    expect(resolveRetryPolicy('a', undefined, DEFAULT_CONFIG)).toEqual({
      maxAttempts: 7,
      tiersMs: [1_000, 5_000, 30_000, 120_000, 600_000, 3_600_000],
    });
    expect(resolveRetryPolicy('a', { maxAttempts: 3, tiers: ['1s', 2_000, '1m'] }, DEFAULT_CONFIG)).toEqual({
      maxAttempts: 3,
      tiersMs: [1_000, 2_000, 60_000],
    });
  });

  it('names the job and the bad value', () => {
    expect(() => resolveRetryPolicy('a.b', { tiers: ['soon'] }, DEFAULT_CONFIG)).toThrow(RegistrationError);
    expect(() => resolveRetryPolicy('a.b', { tiers: ['soon'] }, DEFAULT_CONFIG)).toThrow(
      'job "a.b": retry.tiers must be positive durations such as 1000 or "5s"; got "soon"',
    );
    expect(() => resolveRetryPolicy('a.b', { maxAttempts: 0 }, DEFAULT_CONFIG)).toThrow(
      /retry.maxAttempts must be a whole number/,
    );
    expect(() => resolveRetryPolicy('a.b', { tiers: [] }, DEFAULT_CONFIG)).toThrow(/at least one delay/);
  });
});
