import { describe, expect, it } from 'vitest';
import { NonRetryableError, RetryableError } from 'warren';
import { JobTimeoutError } from '../../../src/errors/job-timeout-error.js';
import { HEADERS } from '../../../src/messages/headers.js';
import {
  DEFER,
  DUPLICATE,
  GIVE_BACK,
  SUCCESS,
  failureVerdict,
  invalidPayload,
  isSuspect,
  returnedTooOften,
  settleMethod,
  wrongRoutingKey,
  type Verdict,
} from '../../../src/consumer/verdict.js';

const policy = { maxAttempts: 3, tiersMs: [1_000, 5_000] };
const running = { attempt: 1, abortedByShutdown: false };

describe('the verdict on a delivery', () => {
  it('accepts the job type and a one-word prefix of it as routing key, and dead-letters any other', () => {
    expect(wrongRoutingKey('email.send', 'email.send', 'ns.job.email.send')).toBeUndefined();
    expect(wrongRoutingKey('1s.email.send', 'email.send', 'ns.job.email.send')).toBeUndefined();
    const verdict = wrongRoutingKey('sms.send', 'email.send', 'ns.job.email.send');
    expect(verdict).toMatchObject({ kind: 'dead', reason: 'unknown_job_type', timedOut: false });
    expect(verdict?.error.message).toBe(
      'routing key "sms.send" is not job type "email.send" of queue ns.job.email.send',
    );
    expect(verdict?.error.name).toBe('UnknownJobType');
  });

  it('dead-letters an invalid payload with its reason', () => {
    const verdict = invalidPayload('body is not JSON');
    expect(verdict).toMatchObject({ kind: 'dead', reason: 'invalid_payload' });
    expect(verdict.error).toMatchObject({ name: 'InvalidPayload', message: 'body is not JSON' });
  });

  it('follows the retry policy on a failure, whatever was thrown', () => {
    expect(failureVerdict(new Error('x'), running, policy)).toMatchObject({ kind: 'retry', delayMs: 1_000 });
    expect(failureVerdict(new Error('x'), { ...running, attempt: 2 }, policy)).toMatchObject({ delayMs: 5_000 });
    expect(failureVerdict(new Error('x'), { ...running, attempt: 3 }, policy)).toMatchObject({
      kind: 'dead',
      reason: 'exhausted',
    });
    expect(failureVerdict(new NonRetryableError('no'), running, policy)).toMatchObject({ reason: 'non_retryable' });
    expect(failureVerdict(new RetryableError('later', { delayMs: 2_000 }), running, policy)).toMatchObject({
      delayMs: 5_000,
    });
    const thrown = failureVerdict('a string', running, policy) as Extract<Verdict, { kind: 'retry' }>;
    expect(thrown.error).toMatchObject({
      name: 'NonErrorThrown',
      message: 'handler threw a non-Error value: "a string"',
    });
  });

  it('marks a timeout as such, and gives back a job the shutdown aborted', () => {
    expect(failureVerdict(new JobTimeoutError('late'), running, policy)).toMatchObject({
      kind: 'retry',
      timedOut: true,
    });
    expect(failureVerdict(new Error('x'), running, policy)).toMatchObject({ timedOut: false });
    expect(failureVerdict(new Error('aborted'), { attempt: 1, abortedByShutdown: true }, policy)).toBe(GIVE_BACK);
  });

  it('takes a redelivery, or the deferred copy of one, for a suspect', () => {
    expect(isSuspect(false, {})).toBe(false);
    expect(isSuspect(true, {})).toBe(true);
    expect(isSuspect(false, { [HEADERS.suspect]: 1 })).toBe(true);
    expect(isSuspect(false, { [HEADERS.attempt]: 2, 'x-delivery-count': 0 })).toBe(false);
  });
});

describe('the delivery limit of deferred copies', () => {
  it("adds the returns the original carried to the copy's own, and dead-letters past the limit", () => {
    expect(returnedTooOften({}, 3)).toBeUndefined();
    expect(returnedTooOften({ 'x-delivery-count': 9 }, 3)).toBeUndefined(); // the broker counts that one itself
    expect(returnedTooOften({ [HEADERS.suspect]: 1, 'x-delivery-count': 2 }, 3)).toBeUndefined();
    const over = returnedTooOften({ [HEADERS.suspect]: 2, 'x-delivery-count': 2 }, 3);
    expect(over).toMatchObject({ kind: 'dead', reason: 'delivery_limit' });
    expect(over?.error.message).toBe(
      'handed back 4 times (its worker crashed or lost its connection while holding it), more than the delivery limit of 3',
    );
    // A forged header is no count.
    expect(returnedTooOften({ [HEADERS.suspect]: 'abc', 'x-delivery-count': 5 }, 3)).toBeUndefined();
  });
});

describe('how a verdict settles the original (the README table of give-backs)', () => {
  const retry = failureVerdict(new Error('x'), running, policy);
  const dead = invalidPayload('bad');
  it.each([
    ['a success', SUCCESS, true, 'ack'],
    ['a duplicate', DUPLICATE, true, 'ack'],
    ['a confirmed retry copy', retry, true, 'ack'],
    ['a retry copy not confirmed', retry, false, 'reject'],
    ['a confirmed dead letter', dead, true, 'ack'],
    ['a dead letter not confirmed', dead, false, 'reject'],
    ['a job given back at shutdown', GIVE_BACK, false, 'nack'],
    ['a confirmed deferred suspect', DEFER, true, 'ack'],
    ['a deferred suspect not confirmed', DEFER, false, 'hold'],
  ] as const)('%s: %s', (_name, verdict, confirmed, how) => {
    expect(settleMethod(verdict, confirmed)).toBe(how);
  });
});
