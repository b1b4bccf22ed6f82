import { WarrenError } from './warren-error.js';

/** Thrown by `publish` when no confirm arrived in time. The outcome is indeterminate: the message may still have been delivered. */
export class PublishTimeoutError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PUBLISH_TIMEOUT', message, options);
  }
}
