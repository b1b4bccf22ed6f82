import type { z } from 'zod';

/** Payload schemas by job type: publishing validates against them and types the payload. */
export type SchemaMap = Readonly<Record<string, z.ZodType>>;

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
