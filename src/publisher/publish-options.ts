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
  /** Extra AMQP headers (names starting `x-warren-` are warren's own). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** Deliver no earlier than this many milliseconds from now (rounded up to whole seconds). */
  readonly delayMs?: number;
  /** Deliver no earlier than this time (1 s resolution). */
  readonly runAt?: Date;
}
