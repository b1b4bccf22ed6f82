import type { Logger } from 'pino';
import type { ExchangeSpec } from '../topology/topology-plan.js';

/** Options of a {@link Publisher}; all required (the worker and client resolve them from the config). */
export interface PublisherOptions {
  /** Exchanges to declare on every (re)connect, so a publish never hits a missing exchange. */
  readonly exchanges: readonly ExchangeSpec[];
  /** Per-publish time for the broker's confirm; past it the outcome is indeterminate. */
  readonly publishTimeoutMs: number;
  /** Publishes held while disconnected; past it `send` fails fast. */
  readonly publishBufferSize: number;
  /** Largest body sent. */
  readonly maxPayloadBytes: number;
  readonly logger: Logger;
}
