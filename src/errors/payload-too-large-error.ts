import { WarrenError } from './warren-error.js';

/** Thrown by `publish` before sending when the encoded payload is larger than `maxPayloadBytes`. */
export class PayloadTooLargeError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PAYLOAD_TOO_LARGE', message, options);
  }
}
