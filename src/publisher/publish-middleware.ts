import type { PublishOptions } from '../publisher/publish-options.js';

/** One publish as a publish middleware sees it: a middleware may change the payload, the headers and the options. */
export interface PublishCall {
  readonly jobType: string;
  payload: unknown;
  /** The message's headers (a copy of `options.headers`): add to them, e.g. a tenant id. */
  readonly headers: Record<string, unknown>;
  /** The other options of the publish (`messageId`, `delayMs`, `runAt`, …). */
  options: Omit<PublishOptions, 'headers'>;
}

/**
 * Wraps every `WarrenClient#publish`: `next()` publishes (after the rest of the chain) and resolves with the message
 * id once the broker confirmed it. What a middleware throws is the publish's rejection; nothing is sent then.
 *
 * @example
 * client.use((call, next) => {
 *   call.headers['tenant-id'] = currentTenant();
 *   return next();
 * });
 */
export type PublishMiddleware = (call: PublishCall, next: () => Promise<string>) => string | Promise<string>;
