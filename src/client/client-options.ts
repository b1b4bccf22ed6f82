import type { Logger } from 'pino';
import type { ConnectRetry } from '../connection/broker-connection.js';
import type { WarrenConfig } from '../config/config-options.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import type { SchemaMap } from '../publisher/publish-options.js';

/** Options of a {@link WarrenClient}. */
export interface ClientOptions<S extends SchemaMap = SchemaMap> {
  /**
   * Settings; missing ones come from `loadConfig()` (config file and `WARREN_*` variables). A key that is no setting
   * throws `ConfigError`.
   */
  readonly config?: Partial<WarrenConfig>;
  /**
   * Schemas of the job types this client publishes, each any Standard Schema (zod 4, valibot, arktype, …):
   * `publish` is typed by their input types and validated against them.
   */
  readonly schemas?: S;
  readonly logger?: Logger;
  /** Metrics to record publishes into (`warren_jobs_published_total`). */
  readonly metrics?: WarrenMetrics;
  /** How long `start` may wait for RabbitMQ. @defaultValue 15000 */
  readonly connectTimeoutMs?: number;
  /** Told of each failed attempt to connect while `start()` waits for RabbitMQ; without it each is logged at `warn`. */
  readonly onConnectRetry?: (retry: ConnectRetry) => void;
}
