import { WarrenError } from './warren-error.js';

/** The reason of a handler's `ctx.signal`, and its recorded failure, when it runs past `timeoutMs`. */
export class JobTimeoutError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_JOB_TIMEOUT', message, options);
  }
}
