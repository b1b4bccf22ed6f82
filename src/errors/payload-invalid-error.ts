import { WarrenError } from './warren-error.js';

/** Thrown by `publish` when the payload does not satisfy the job's schema or cannot be encoded as JSON. */
export class PayloadInvalidError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PAYLOAD_INVALID', message, options);
  }
}
