import { WarrenError } from './warren-error.js';

/** Thrown by `publish` when the broker returned the message because no queue is bound for its routing key. */
export class UnroutableError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_UNROUTABLE', message, options);
  }
}
