import { WarrenError } from './warren-error.js';

/**
 * The failure of an attempt whose handler succeeded but whose child jobs (`ctx.publish`) were not all confirmed by
 * the broker: the parent is not acknowledged, and is retried by its policy like any failure. Its children keep their
 * message ids on the next attempt, so those already confirmed are recognised as duplicates. `cause` is the first
 * child's error.
 */
export class ChildPublishError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_CHILD_PUBLISH', message, options);
  }
}
