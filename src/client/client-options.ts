import type { Logger } from 'pino';
import type { z } from 'zod';
import type { WarrenConfig } from '../config/config-options.js';
import type { WarrenMetrics } from '../metrics/warren-metrics.js';

/** Payload schemas by job type: publishing validates against them and types the payload. */
export type SchemaMap = Readonly<Record<string, z.ZodType>>;

/** Options of a {@link WarrenClient}. */
export interface ClientOptions<S extends SchemaMap = SchemaMap> {
  /** Settings; missing ones come from `loadConfig()` (config file and `WARREN_*` variables). */
  readonly config?: Partial<WarrenConfig>;
  /** Schemas of the job types this client publishes: `publish` is typed by and validated against them. */
  readonly schemas?: S;
  readonly logger?: Logger;
  /** Metrics to record publishes into (`warren_jobs_published_total`). */
  readonly metrics?: WarrenMetrics;
  /** How long `start` may wait for RabbitMQ. @defaultValue 15000 */
  readonly connectTimeoutMs?: number;
}

/** Options of one publish. */
export interface PublishOptions {
  /** The message id; generated (a UUID) when absent. Consumers de-duplicate and trace by it. */
  readonly messageId?: string;
  /** Extra AMQP headers (names starting `x-warren-` are warren's own). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** Deliver no earlier than this many milliseconds from now (rounded up to whole seconds). */
  readonly delayMs?: number;
  /** Deliver no earlier than this time (1 s resolution). */
  readonly runAt?: Date;
}
