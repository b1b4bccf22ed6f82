import { WarrenError } from './warren-error.js';

/** Thrown by `publish` while disconnected when the bounded publish buffer is full. */
export class PublishBufferFullError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PUBLISH_BUFFER_FULL', message, options);
  }
}
