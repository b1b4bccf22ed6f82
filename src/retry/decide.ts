import { hasCode } from '../errors/warren-error.js';
import type { DeadLetterReason } from '../messages/headers.js';
import type { RetryPolicy } from './retry-policy.js';

/** What to do with a failed attempt. */
export type FailureOutcome =
  { readonly kind: 'retry'; readonly delayMs: number } | { readonly kind: 'dead'; readonly reason: DeadLetterReason };

/**
 * Decides the fate of a failed attempt. Pure.
 *
 * - `NonRetryableError` → dead-letter now (`non_retryable`); so is a `PublishOptionsError` the handler let through
 *   (`ctx.publish` or a client's publish called with a job type or options that are not valid): it is thrown
 *   before anything is sent, and the same call fails the same way on every attempt;
 * - the last allowed attempt → dead-letter (`exhausted`);
 * - `RetryableError({ delayMs })` → the smallest tier at or above `delayMs` (the largest if none is);
 * - anything else → tier n for attempt n, the last tier repeating.
 */
export function decide(error: unknown, attempt: number, policy: RetryPolicy): FailureOutcome {
  if (hasCode(error, 'WARREN_ERR_NON_RETRYABLE') || hasCode(error, 'WARREN_ERR_PUBLISH_OPTIONS'))
    return { kind: 'dead', reason: 'non_retryable' };
  if (attempt >= policy.maxAttempts) return { kind: 'dead', reason: 'exhausted' };
  const { tiersMs } = policy;
  const wanted = hasCode(error, 'WARREN_ERR_RETRYABLE') ? (error as { delayMs?: unknown }).delayMs : undefined;
  if (typeof wanted === 'number' && Number.isFinite(wanted)) {
    const sorted = [...tiersMs].sort((a, b) => a - b);
    return { kind: 'retry', delayMs: sorted.find((tier) => tier >= wanted) ?? (sorted.at(-1) as number) };
  }
  return { kind: 'retry', delayMs: tiersMs[Math.min(attempt, tiersMs.length) - 1] as number };
}
