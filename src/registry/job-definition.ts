import type { Logger } from 'pino';
import type { PayloadSchema } from './payload-schema.js';

/** What a handler learns about the job it runs, besides the payload. */
export interface JobContext {
  /** The message id (AMQP `message_id`), stable across retries and replays. */
  readonly jobId: string;
  readonly jobType: string;
  /** 1 on the first delivery, rising with each retry. */
  readonly attempt: number;
  /** The message's AMQP headers. */
  readonly headers: Readonly<Record<string, unknown>>;
  /** Aborted when the job runs past its timeout or the worker's shutdown grace time ends. */
  readonly signal: AbortSignal;
  /** A child logger bound to `jobId`, `jobType` and `attempt`. */
  readonly logger: Logger;
  /**
   * Publishes a follow-up job once this one succeeds: held until the handler returns, then sent, confirmed by the
   * broker, before this job is acknowledged; a handler that fails sends none. Its message id is derived from this
   * job's id and the child's `key` (by default its position: `<job id>/1`, `<job id>/2`, …), the same on every
   * attempt, and children are de-duplicated by it (with Redis): a parent that runs again after a crash does not
   * run its children twice. Returns the child's message id.
   * @throws PublishOptionsError (job type, options, a key used twice), PayloadInvalidError (not JSON), at the call
   */
  publish(jobType: string, payload: unknown, options?: ChildJobOptions): string;
}

/** Options of one child job (`ctx.publish`): a publish's, with a `key` instead of a message id. */
export interface ChildJobOptions {
  /**
   * What names the child among its parent's children: its message id is `<parent id>/<key>`. Give one when the
   * handler publishes children in an order that may change between attempts. @defaultValue its position, 1, 2, …
   */
  readonly key?: string;
  /** Extra AMQP headers (not in warren's own `x-warren-` space). */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** Deliver no earlier than this many milliseconds after the parent succeeded (whole seconds, rounded up). */
  readonly delayMs?: number;
  /** Deliver no earlier than this time (1 s resolution). */
  readonly runAt?: Date;
}

/** What a job middleware sees: the handler's context, and the payload it is called with (after its schema). */
export interface MiddlewareContext extends JobContext {
  readonly payload: unknown;
}

/**
 * Wraps every handler call: do something before, call `next()` to run the rest of the chain and the handler (it
 * resolves with what the handler returned), do something after. What it throws, or lets `next()` reject with,
 * ends the attempt under the same rules as a handler's throw (`NonRetryableError` dead-letters, anything else is
 * retried). Not calling `next()` skips the handler: the job succeeds. Registered with `worker.use()` (every job
 * type, outermost first) and `defineJob`'s `middleware` option (one job type, inside the worker's).
 *
 * @example
 * worker.use(async (ctx, next) => {
 *   try {
 *     return await next();
 *   } catch (error) {
 *     captureException(error, { tags: { jobType: ctx.jobType }, extra: { jobId: ctx.jobId, attempt: ctx.attempt } });
 *     throw error;
 *   }
 * });
 */
export type JobMiddleware = (ctx: MiddlewareContext, next: () => Promise<unknown>) => unknown;

/** A job handler: resolve to succeed; throw to fail (see `NonRetryableError` and `RetryableError`). */
export type JobHandler<P> = (payload: P, ctx: JobContext) => unknown;

/** Retry options of one job; unset fields come from the `maxAttempts` and `retryTiersMs` settings. */
export interface RetryOptions {
  /** Attempts before the job is dead-lettered as `exhausted`; 1 means never retry. */
  readonly maxAttempts?: number;
  /** Delays of this job's tiers, as milliseconds or durations (`"1s"`, `"5m"`); attempt n waits in tier n. */
  readonly tiers?: ReadonlyArray<number | string>;
}

/** Options of a job, on `@Job` or `defineJob`. */
export interface JobOptions<S extends PayloadSchema = PayloadSchema> {
  /** Deliveries handled at once by one worker. @defaultValue 10 */
  readonly concurrency?: number;
  /**
   * Deliveries one worker holds unacknowledged: the prefetch of the job queue's channel, from `concurrency` to twice
   * it. Those beyond `concurrency` wait in the worker for a free slot, so the next job is there when one ends
   * instead of a broker round trip later: for short jobs. A crash hands the waiting ones back too, charged against
   * the delivery limit (README, "Concurrency and prefetch"). @defaultValue `concurrency`
   */
  readonly prefetch?: number;
  /** After this, `ctx.signal` is aborted and the attempt fails. @defaultValue the `jobTimeoutMs` setting (5 min) */
  readonly timeoutMs?: number;
  /**
   * Any Standard Schema (zod 4, valibot, arktype, …). A delivery's payload is validated against it before the
   * handler runs, which receives the schema's output; a payload that fails is dead-lettered as `invalid_payload`.
   */
  readonly schema?: S;
  /** How failures are retried. @defaultValue the `maxAttempts` and `retryTiersMs` settings */
  readonly retry?: RetryOptions;
  /**
   * De-duplicate by message id (needs Redis): a job whose id already succeeded is acked without running again.
   * Scheduled jobs are always de-duplicated. @defaultValue false
   */
  readonly idempotent?: boolean;
  /** Middleware around this job type's handler, inside the worker's own (`worker.use`), first outermost. */
  readonly middleware?: readonly JobMiddleware[];
}

/** A registered job: what `defineJob` returns and what `@Job` records. */
export interface JobDefinition<T extends string = string, P = unknown> {
  readonly kind: 'warren.job';
  readonly jobType: T;
  /** Method syntax on purpose: a definition of any payload type is then usable where `unknown` is expected. */
  handler(payload: P, ctx: JobContext): unknown;
  readonly concurrency: number | undefined;
  /** Older copies of warren have none: read it with {@link prefetchOf}. */
  readonly prefetch?: number | undefined;
  readonly timeoutMs: number | undefined;
  /** The payload schema; its output is what the handler receives. */
  readonly schema: PayloadSchema<unknown, P> | undefined;
  readonly retry: RetryOptions | undefined;
  readonly idempotent: boolean;
  /** Middleware around this job type's handler (inside the worker's own). */
  readonly middleware: readonly JobMiddleware[];
}

/** Default number of a job type's deliveries one worker handles at once. */
export const DEFAULT_CONCURRENCY = 10;

/**
 * The prefetch of a job queue's channel: the job's own, else its concurrency. At most twice the concurrency: a
 * delivery then waits in the worker for at most one job's run before its own starts, which the queue's consumer
 * timeout (three job timeouts and a minute) allows for.
 */
export function prefetchOf(job: Pick<JobDefinition, 'concurrency' | 'prefetch'>): number {
  return job.prefetch ?? job.concurrency ?? DEFAULT_CONCURRENCY;
}

/** True when `value` is a {@link JobDefinition} (from any copy of warren). */
export function isJobDefinition(value: unknown): value is JobDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'warren.job';
}
