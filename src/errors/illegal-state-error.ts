import { WarrenError } from './warren-error.js';

/** Thrown when a lifecycle method is called in a state that does not allow it (for example `publish` after `stop`). */
export class IllegalStateError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_ILLEGAL_STATE', message, options);
  }
}
