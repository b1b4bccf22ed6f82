import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import type { DeliveryOutcome } from '../consumer/queue-consumer.js';
import type { Registry } from '../registry/registry.js';

/** Options of a {@link Worker}. */
export interface WorkerOptions {
  readonly config: WarrenConfig;
  /** The handlers to run: one consumer per registered job type. */
  readonly registry: Registry;
  readonly logger: Logger;
  /** How long startup may wait for RabbitMQ before failing. @defaultValue 15000 */
  readonly connectTimeoutMs?: number;
  /** After the grace time, how long aborted handlers get to settle. @defaultValue 5000 */
  readonly abortWaitMs?: number;
  /** Told of every settled delivery. */
  readonly onOutcome?: (outcome: DeliveryOutcome, jobType: string) => void;
}
