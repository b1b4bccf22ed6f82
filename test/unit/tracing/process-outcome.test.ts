import { describe, expect, it } from 'vitest';
import { NonRetryableError } from 'warren';
import {
  DEFER,
  DUPLICATE,
  GIVE_BACK,
  SUCCESS,
  SUCCESS_RECORDED,
  failureVerdict,
  invalidPayload,
  returnedTooOften,
  wrongRoutingKey,
  type Verdict,
} from '../../../src/consumer/verdict.js';
import { JobTimeoutError } from '../../../src/errors/job-timeout-error.js';
import { HEADERS } from '../../../src/messages/headers.js';
import { processOutcome } from '../../../src/tracing/process-span.js';
import { PROCESS_OUTCOMES } from '../../../src/tracing/trace-attributes.js';

// The outcome attributes a process span ends with, from the consumer's own verdicts (not hand-made look-alikes).
const policy = { maxAttempts: 3, tiersMs: [1_000, 60_000] };
const failed = (thrown: unknown, attempt = 1): Verdict =>
  failureVerdict(thrown, { attempt, abortedByShutdown: false }, policy);

describe('the outcome of a delivery, as its process span records it', () => {
  it('a success or a duplicate: the outcome alone, no error', () => {
    for (const [verdict, outcome] of [
      [SUCCESS, 'success'],
      [SUCCESS_RECORDED, 'success'],
      [DUPLICATE, 'duplicate'],
    ] as const) {
      expect(processOutcome(verdict)).toEqual({
        outcome,
        attributes: { 'warren.outcome': outcome },
        error: undefined,
      });
    }
  });

  it('a retry: its tier and delay, the error and its type', () => {
    const error = new TypeError('mail server down');
    const verdict = failed(error);
    expect(processOutcome(verdict)).toEqual({
      outcome: 'retry',
      attributes: {
        'warren.outcome': 'retry',
        'warren.retry.tier': '1s',
        'warren.retry.delay_ms': 1_000,
        'error.type': 'TypeError',
      },
      error,
    });
    expect(processOutcome(failed(new Error('again'), 2)).attributes).toMatchObject({
      'warren.retry.tier': '1m',
      'warren.retry.delay_ms': 60_000,
    });
  });

  it('a timeout is marked, and typed by its code', () => {
    const timeout = new JobTimeoutError('ran past its timeout of 10 ms');
    expect(processOutcome(failed(timeout)).attributes).toMatchObject({
      'warren.outcome': 'retry',
      'warren.timed_out': true,
      'error.type': 'WARREN_ERR_JOB_TIMEOUT',
    });
    expect(processOutcome(failed(new Error('no'))).attributes['warren.timed_out']).toBeUndefined();
  });

  it('a dead letter: its reason, for every way to the dead-letter queue', () => {
    const cases: Array<[Verdict, string, string]> = [
      [failed(new Error('last'), 3), 'exhausted', 'Error'],
      [failed(new NonRetryableError('never')), 'non_retryable', 'WARREN_ERR_NON_RETRYABLE'],
      [wrongRoutingKey('sms.send', 'email.send', 'ns.job.email.send') as Verdict, 'unknown_job_type', 'UnknownJobType'],
      [returnedTooOften({ [HEADERS.suspect]: 25 }, 20) as Verdict, 'delivery_limit', 'DeliveryLimitExceeded'],
    ];
    for (const [verdict, reason, type] of cases) {
      const { outcome, attributes, error } = processOutcome(verdict);
      expect({ outcome, attributes }).toEqual({
        outcome: 'dead',
        attributes: { 'warren.outcome': 'dead', 'warren.dead_letter.reason': reason, 'error.type': type },
      });
      expect(error).toBe((verdict as Extract<Verdict, { kind: 'dead' }>).error);
    }
  });

  it('an invalid payload is `invalid`, with reason invalid_payload and its error', () => {
    const verdict = invalidPayload('body is not JSON');
    expect(processOutcome(verdict)).toEqual({
      outcome: 'invalid',
      attributes: {
        'warren.outcome': 'invalid',
        'warren.dead_letter.reason': 'invalid_payload',
        'error.type': 'InvalidPayload',
      },
      error: verdict.error,
    });
  });

  it('given back at shutdown: requeued; a deferred suspect: deferred; neither an error', () => {
    expect(processOutcome(GIVE_BACK)).toEqual({
      outcome: 'requeued',
      attributes: { 'warren.outcome': 'requeued' },
      error: undefined,
    });
    expect(processOutcome(DEFER)).toEqual({
      outcome: 'deferred',
      attributes: { 'warren.outcome': 'deferred' },
      error: undefined,
    });
  });

  it('a copy that was not confirmed leaves the job with the broker: requeued, or held for a suspect', () => {
    const error = new Error('down');
    expect(processOutcome(failed(error), false)).toMatchObject({
      outcome: 'requeued',
      attributes: { 'warren.outcome': 'requeued', 'warren.retry.tier': '1s' },
      error,
    });
    expect(processOutcome(failed(new NonRetryableError('never')), false).outcome).toBe('requeued');
    expect(processOutcome(DEFER, false)).toMatchObject({ outcome: 'held', attributes: { 'warren.outcome': 'held' } });
    // A verdict without a copy has nothing to be unconfirmed.
    expect(processOutcome(SUCCESS, false).outcome).toBe('success');
  });

  it('names only outcomes of PROCESS_OUTCOMES', () => {
    const verdicts: Verdict[] = [SUCCESS, DUPLICATE, GIVE_BACK, DEFER, failed(new Error('x')), invalidPayload('x')];
    for (const verdict of verdicts)
      for (const confirmed of [true, false])
        expect(PROCESS_OUTCOMES).toContain(processOutcome(verdict, confirmed).outcome);
  });
});
