import { WarrenError } from './warren-error.js';

/**
 * Thrown (as a rejection) by `publish` before anything is sent, when its job type is not a valid job type or an
 * option is not valid: `delayMs`, `runAt`, `messageId`, or `headers` (not a plain object, or a name in warren's own
 * `x-warren-` space).
 */
export class PublishOptionsError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_PUBLISH_OPTIONS', message, options);
  }
}
