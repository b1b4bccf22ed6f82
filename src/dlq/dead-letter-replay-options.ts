import type { Logger } from 'pino';
import type { ConnectRetry } from '../connection/broker-connection.js';
import type { WarrenConfig } from '../config/config-options.js';

/** How far a replay has got, reported after each dead letter it settled. */
export interface ReplayProgress {
  /** Dead letters settled: republished plus skipped. */
  readonly done: number;
  /** Republished (confirmed), then acknowledged. */
  readonly replayed: number;
  /** Already republished by an earlier, interrupted replay (found in the ledger): acknowledged without republishing. */
  readonly skipped: number;
  /** Dead letters this replay takes on: its limit, or all that were in the queue when it started. */
  readonly total: number;
}

/** Options of a {@link DeadLetterReplay}. */
export interface DeadLetterReplayOptions {
  readonly config: Pick<
    WarrenConfig,
    'amqpUrl' | 'namespace' | 'queueType' | 'deliveryLimit' | 'heartbeatSeconds' | 'publishTimeoutMs'
  >;
  readonly jobType: string;
  /** Most dead letters to take on. @defaultValue all those in the queue when the replay starts */
  readonly limit?: number;
  /** Republishes awaiting their confirm at once. @defaultValue 100 */
  readonly maxUnconfirmed?: number;
  readonly logger: Logger;
  /** How long connecting may take. @defaultValue 5000 */
  readonly connectTimeoutMs?: number;
  /** Told of each failed attempt to connect while `start()` waits for RabbitMQ; without it each is logged at `warn`. */
  readonly onConnectRetry?: (retry: ConnectRetry) => void;
  /** Aborting stops taking dead letters; those in flight are settled and the replay ends normally. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReplayProgress) => void;
  /**
   * Called after the broker confirmed the `confirmed`-th republish and before its dead letter is acknowledged: the
   * point the replay ledger exists for, where tests kill the process (`test/fixtures/warren-crash-after.ts`).
   */
  readonly afterConfirm?: (confirmed: number) => void;
}
