import { WarrenError } from './warren-error.js';

/**
 * Thrown by a handler to say the job can never succeed: it is dead-lettered at once, without retries.
 */
export class NonRetryableError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_NON_RETRYABLE', message, options);
  }
}
