import { WarrenError } from './warren-error.js';

/** Thrown by `publish` when the broker negatively acknowledged the message (for example a queue at its length limit). */
export class PublishRejectedError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PUBLISH_REJECTED', message, options);
  }
}
