import type { PayloadSchema } from '../registry/payload-schema.js';

/**
 * Payload schemas by job type, each any Standard Schema (zod 4, valibot, arktype, …): publishing validates against
 * them and types the payload as the schema's input.
 */
export type SchemaMap = Readonly<Record<string, PayloadSchema>>;

/** Options of one publish. */
export interface PublishOptions {
  /** The message id; generated (a UUID) when absent. Consumers de-duplicate and trace by it. */
  readonly messageId?: string;
  /** Extra AMQP headers. Names starting `x-warren-` are warren's own, and refused here (see `schedule`). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /**
   * Publish the job as a fire of this schedule: it carries `x-warren-schedule`, and a worker de-duplicates it by
   * message id like every scheduled job. The scheduler and `warren schedules trigger` set it.
   */
  readonly schedule?: string;
  /** Deliver no earlier than this many milliseconds from now (rounded up to whole seconds). */
  readonly delayMs?: number;
  /** Deliver no earlier than this time (1 s resolution). */
  readonly runAt?: Date;
}
