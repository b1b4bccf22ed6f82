import { WarrenError } from './warren-error.js';

/** Options of {@link RetryableError}. */
export interface RetryableErrorOptions {
  /** Wait at least this long before the next attempt (the smallest retry tier at or above it). */
  delayMs?: number;
  cause?: unknown;
}

/**
 * Thrown by a handler to ask for a retry, optionally after at least `delayMs`.
 * Any other thrown value is retried too; this class only adds the delay.
 */
export class RetryableError extends WarrenError {
  readonly delayMs: number | undefined;

  constructor(message: string, options: RetryableErrorOptions = {}) {
    super('WARREN_ERR_RETRYABLE', message, { cause: options.cause });
    this.delayMs = options.delayMs;
  }
}
