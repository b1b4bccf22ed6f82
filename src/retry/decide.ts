import { hasCode } from '../errors/warren-error.js';
import type { DeadLetterReason } from '../messages/headers.js';

/** What to do with a failed attempt. */
export type FailureOutcome = { readonly kind: 'dead'; readonly reason: DeadLetterReason };

/**
 * Decides the fate of a failed attempt. Pure.
 *
 * Until retry tiers exist every failure is dead-lettered (with its error context, confirmed before the ack),
 * so nothing is lost and nothing loops: `NonRetryableError` as `non_retryable`, anything else as `exhausted`.
 */
export function decide(error: unknown): FailureOutcome {
  if (hasCode(error, 'WARREN_ERR_NON_RETRYABLE')) return { kind: 'dead', reason: 'non_retryable' };
  return { kind: 'dead', reason: 'exhausted' };
}
