import type { Logger } from 'pino';
import type { ConnectRetry } from '../connection/broker-connection.js';
import type { WarrenConfig } from '../config/config-options.js';
import type { DeliveryOutcome } from '../consumer/queue-consumer.js';
import type { Registry } from '../registry/registry.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';
import type { FireOutcome } from '../scheduler/scheduler.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';

/** Options of a {@link Worker}. */
export interface WorkerOptions {
  /** Usually from `loadConfig()`. A key that is no setting makes the constructor throw `ConfigError`. */
  readonly config: WarrenConfig;
  /** The handlers to run: one consumer per registered job type (may be empty when only schedules run). */
  readonly registry: Registry;
  /** Schedules to fire from this process (every replica runs them; a per-fire lock elects one publisher). */
  readonly schedules?: readonly ScheduleDefinition[];
  readonly logger: Logger;
  /** How long startup may wait for RabbitMQ before failing. @defaultValue 15000 */
  readonly connectTimeoutMs?: number;
  /** Told of each failed attempt to connect while `start()` waits for RabbitMQ; without it each is logged at `warn`. */
  readonly onConnectRetry?: (retry: ConnectRetry) => void;
  /** After the grace time, how long aborted handlers get to settle. @defaultValue 5000 */
  readonly abortWaitMs?: number;
  /** Told of every settled delivery. */
  readonly onOutcome?: (outcome: DeliveryOutcome, jobType: string) => void;
  /** Metrics to record into (see docs/metrics.md); none when absent. */
  readonly metrics?: WarrenMetrics;
  /** Told of every schedule fire. */
  readonly onFire?: (schedule: string, outcome: FireOutcome) => void;
}
