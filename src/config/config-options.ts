/** Log levels accepted by `logLevel` (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Queue types accepted by `queueType`. */
export const QUEUE_TYPES = ['quorum', 'classic'] as const;
/** Leader placements accepted by `queueLeaderLocator` (`""`: not set, RabbitMQ's own setting applies). */
export const QUEUE_LEADER_LOCATORS = ['', 'client-local', 'balanced'] as const;

/** warren's resolved configuration: every field present, units in the names. */
export interface WarrenConfig {
  /**
   * Broker URL, `amqp://user:pass@host:port/vhost`, or the URLs of a cluster's nodes separated by commas.
   * @defaultValue `amqp://guest:guest@127.0.0.1:5672`
   */
  readonly amqpUrl: string;
  /** Prefix of every exchange and queue name. @defaultValue `warren` */
  readonly namespace: string;
  /** Type of every queue warren declares. @defaultValue `quorum` */
  readonly queueType: (typeof QUEUE_TYPES)[number];
  /**
   * Replicas of each quorum queue when it is created (`x-quorum-initial-group-size`); 0 leaves it to RabbitMQ, which
   * puts one on every cluster node. @defaultValue 0
   */
  readonly quorumInitialGroupSize: number;
  /**
   * Where a new quorum queue's leader goes (`x-queue-leader-locator`): `client-local` (the node of the declaring
   * connection), `balanced` (the node with the fewest leaders), or `""` to leave it to RabbitMQ's
   * `queue_leader_locator` (client-local unless configured). @defaultValue `""`
   */
  readonly queueLeaderLocator: (typeof QUEUE_LEADER_LOCATORS)[number];
  /** Port of the HTTP server of `warren start` (`/livez`, `/readyz`); 0 picks a free port. @defaultValue 9464 */
  readonly httpPort: number;
  /** pino log level. @defaultValue `info` */
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** How long in-flight handlers may finish after a shutdown signal before their `signal` is aborted. @defaultValue 30000 */
  readonly shutdownGraceMs: number;
  /** How long `publish` waits for the broker's confirm before reporting an indeterminate outcome. @defaultValue 10000 */
  readonly publishTimeoutMs: number;
  /** How many publishes may wait while disconnected before `publish` fails fast. @defaultValue 1000 */
  readonly publishBufferSize: number;
  /** Largest encoded payload `publish` sends. RabbitMQ 4 refuses over 16 MiB by default. @defaultValue 16777216 */
  readonly maxPayloadBytes: number;
  /** Default handler timeout when a job sets no `timeoutMs`. @defaultValue 300000 */
  readonly jobTimeoutMs: number;
  /** Quorum-queue delivery limit: a message redelivered more often (its worker crashed) is dead-lettered. @defaultValue 5 */
  readonly deliveryLimit: number;
  /** AMQP heartbeat interval, in seconds: a dead peer is noticed after about twice this. @defaultValue 5 */
  readonly heartbeatSeconds: number;
  /** Delays of the retry tiers, in milliseconds: attempt n waits in tier n, the last repeats. @defaultValue 1s, 5s, 30s, 2m, 10m, 1h */
  readonly retryTiersMs: readonly number[];
  /** Attempts before a failing job is dead-lettered as `exhausted` (1 = no retries). @defaultValue 7 (each default tier once) */
  readonly maxAttempts: number;
  /** Redis for per-fire cron locks and de-duplication; `none` runs a single scheduler without locks. @defaultValue `redis://127.0.0.1:6379` */
  readonly redisUrl: string;
  /** How long a job's message id is remembered for de-duplication after it succeeded. @defaultValue 604800000 (7 days) */
  readonly dedupTtlMs: number;
  /** Time-to-live of a per-fire lock; it is left to expire, never released. @defaultValue 60000 */
  readonly fireLockTtlMs: number;
  /** Schedules file; empty means `config/schedules.json` under the working directory when it exists. @defaultValue `""` */
  readonly schedules: string;
  /** Handlers module loaded by `warren start`; empty means the first `handlers/index.{js,mjs,cjs,ts,mts,cts}` under the working directory. @defaultValue `""` */
  readonly handlers: string;
}

/** Built-in defaults, lowest of the layers (defaults ← config file ← environment ← explicit options). */
export const DEFAULT_CONFIG: WarrenConfig = Object.freeze({
  amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
  namespace: 'warren',
  queueType: 'quorum',
  quorumInitialGroupSize: 0,
  queueLeaderLocator: '',
  httpPort: 9464,
  logLevel: 'info',
  shutdownGraceMs: 30_000,
  publishTimeoutMs: 10_000,
  publishBufferSize: 1_000,
  maxPayloadBytes: 16 * 1024 * 1024,
  jobTimeoutMs: 300_000,
  deliveryLimit: 5,
  heartbeatSeconds: 5,
  retryTiersMs: Object.freeze([1_000, 5_000, 30_000, 120_000, 600_000, 3_600_000]),
  maxAttempts: 7,
  redisUrl: 'redis://127.0.0.1:6379',
  dedupTtlMs: 7 * 86_400_000,
  fireLockTtlMs: 60_000,
  schedules: '',
  handlers: '',
});
