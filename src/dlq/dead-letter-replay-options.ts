import type { Logger } from 'pino';
import type { ConnectRetry } from '../connection/broker-connection.js';
import type { WarrenConfig } from '../config/config-options.js';

/** How far a replay has got, reported after each dead letter it replayed. */
export interface ReplayProgress {
  /** Dead letters whose copy was confirmed in the job queue and that were then acknowledged. */
  readonly replayed: number;
  /** Dead letters this replay takes on: its limit, or all that were in the queue when it started. */
  readonly total: number;
}

/** Options of a {@link DeadLetterReplay}. */
export interface DeadLetterReplayOptions {
  readonly config: Pick<
    WarrenConfig,
    'amqpUrl' | 'namespace' | 'deliveryLimit' | 'heartbeatSeconds' | 'publishTimeoutMs'
  >;
  readonly jobType: string;
  /** Most dead letters to take on. @defaultValue all those in the queue when the replay starts */
  readonly limit?: number;
  /**
   * Replays only the dead letters with these message ids: of each id, the first dead letter carrying it among the
   * first `scanLimit` of the queue. At most `maxUnconfirmed` ids (so that what can repeat stays bounded as without
   * them); not with `limit`. The summary names those it did not find (`notFound`).
   */
  readonly messageIds?: readonly string[];
  /**
   * With `messageIds`: the body to republish instead of the dead letter's, by message id (edit and replay). It must be
   * JSON; the copy is published as `application/json`, without a content encoding, and is otherwise the same copy
   * with the same guarantees (the dead letter is removed only once its copy is confirmed).
   */
  readonly bodies?: ReadonlyMap<string, Buffer>;
  /**
   * With `messageIds`: how many dead letters, from the head of the queue, the replay looks through for them (they
   * are held unacknowledged meanwhile, and go back untouched). At most 65535 (AMQP's largest prefetch).
   * @defaultValue 1000
   */
  readonly scanLimit?: number;
  /**
   * Dead letters held at once, and so copies awaiting their confirm at once. It is also the bound on what can
   * repeat: a replay killed or cut off leaves at most this many dead letters whose copies may already be in the
   * job queue, and the next replay sends those again. @defaultValue 100
   */
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
   * Called after the broker confirmed the `confirmed`-th copy and before its dead letter is acknowledged: the point
   * where a kill leaves a dead letter whose copy is already in the job queue, and where tests kill the process
   * (`test/fixtures/warren-crash-after.ts`).
   */
  readonly afterConfirm?: (confirmed: number) => void;
}
