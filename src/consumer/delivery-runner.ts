import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { DedupStore } from '../dedup/dedup-store.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import { decodeBody } from '../messages/decode.js';
import { attemptOf, readParent, readSchedule } from '../messages/read-headers.js';
import { compose } from '../middleware/compose.js';
import type { JobMiddleware, MiddlewareContext } from '../registry/job-definition.js';
import type { JobDefinition } from '../registry/job-definition.js';
import { validatePayload, type Validated } from '../registry/validate-payload.js';
import type { RetryPolicy } from '../retry/retry-policy.js';
import { DeliveryContext } from './delivery-context.js';
import type { LazyAbort } from './lazy-abort.js';
import { isThenable, withTimeout, type Timers } from './run-with-timeout.js';
import {
  DUPLICATE,
  SUCCESS,
  SUCCESS_RECORDED,
  failureVerdict,
  invalidPayload,
  wrongRoutingKey,
  type Verdict,
} from './verdict.js';

/** What a {@link DeliveryRunner} needs besides the job. */
export interface DeliveryRunnerOptions {
  readonly queue: string;
  readonly retryPolicy: RetryPolicy;
  /** The job's timeout (its own, or the worker's default), for its schema and its handler alike. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** De-duplication by message id, for scheduled jobs and `idempotent` ones; absent without Redis. */
  readonly dedup: Pick<DedupStore, 'isDone'> | undefined;
  /** Records a handler's duration (seconds) and a job's wait in its queue (seconds); absent without metrics. */
  readonly observe?: { readonly duration: (seconds: number) => void; readonly wait: (seconds: number) => void };
  /** True once the worker is shutting down: an abort then is the shutdown's, not the job's own failure. */
  readonly draining: () => boolean;
  /** The timers of the job's timeout. @defaultValue the process's own (a test harness passes its virtual clock) */
  readonly timers?: Timers;
  /**
   * The worker's middleware (`worker.use`), read once at the first delivery (`use` is refused once the worker has
   * started); the job's own (`defineJob`'s `middleware`) runs inside it.
   */
  readonly middleware?: () => readonly JobMiddleware[];
  /** Told when a handler is about to be called (lifecycle events); absent when nobody listens. */
  readonly onStart?: (ctx: DeliveryContext) => void;
}

/** The identity of one delivery, read once by the consumer. */
export interface DeliveryIdentity {
  readonly jobId: string;
  /** The message carried its own id (de-duplication needs one). */
  readonly hasId: boolean;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** The identity of a delivery: its job id (generated when the publisher set none), attempt and headers. */
export function identifyDelivery(message: ConsumeMessage): DeliveryIdentity {
  const { properties } = message;
  const headers = (properties.headers ?? {}) as Record<string, unknown>;
  const hasId = typeof properties.messageId === 'string' && properties.messageId !== '';
  return {
    jobId: hasId ? (properties.messageId as string) : randomUUID(),
    hasId,
    attempt: attemptOf(headers),
    headers,
  };
}

/**
 * Runs one delivery to its {@link Verdict}: checks the routing key, decodes the body, validates the payload,
 * consults de-duplication, runs the handler under its timeout. It touches no channel; the consumer applies the
 * verdict. A job whose schema and handler answer synchronously gets its verdict without a promise; a promise is made
 * only where something is awaited (an async schema or handler, de-duplication).
 */
export class DeliveryRunner {
  readonly #job: JobDefinition;
  readonly #options: DeliveryRunnerOptions;
  readonly #logger: Logger;
  /** The handler with its middleware around it; the bare handler when there is none. Built at the first call. */
  #call: ((payload: unknown, ctx: DeliveryContext) => unknown) | undefined;

  constructor(job: JobDefinition, options: DeliveryRunnerOptions) {
    this.#job = job;
    this.#options = options;
    this.#logger = options.logger;
  }

  #handlerCall(): (payload: unknown, ctx: DeliveryContext) => unknown {
    const job = this.#job;
    const chain = [...(this.#options.middleware?.() ?? []), ...(job.middleware ?? [])];
    if (chain.length === 0) return (payload, ctx) => job.handler(payload, ctx);
    const run = compose<MiddlewareContext, unknown>(chain, (ctx) => job.handler(ctx.payload, ctx));
    return (_payload, ctx) => run(ctx);
  }

  run(message: ConsumeMessage, id: DeliveryIdentity, controller: LazyAbort): Verdict | Promise<Verdict> {
    const { jobType } = this.#job;
    const { jobId, attempt } = id;
    const misrouted = wrongRoutingKey(message.fields.routingKey, jobType, this.#options.queue);
    if (misrouted) {
      this.#logger.warn(
        { jobId, routingKey: message.fields.routingKey },
        'message for another job type; dead-lettering',
      );
      return misrouted;
    }
    const decoded = decodeBody(message);
    if (!decoded.ok) return this.#invalid(jobId, decoded.error);
    const ctx = new DeliveryContext(jobId, jobType, attempt, id.headers, controller, this.#logger);
    const { schema } = this.#job;
    if (schema === undefined) return this.#accepted(message, ctx, id.hasId, decoded.payload);
    let validated: Validated | Promise<Validated>;
    try {
      validated = validatePayload(schema, decoded.payload, jobType);
    } catch (thrown) {
      return this.#schemaFailed(ctx, thrown);
    }
    // A schema that answers synchronously keeps the delivery synchronous; only an async one costs a promise.
    if (validated instanceof Promise) return this.#awaitValidation(message, ctx, id.hasId, validated);
    return this.#validated(message, ctx, id.hasId, validated);
  }

  async #awaitValidation(
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    pending: Promise<Validated>,
  ): Promise<Verdict> {
    const { timeoutMs } = this.#options;
    let validated: Validated;
    try {
      // The job's timeout covers its schema too: a check that never answers must not hold a prefetch slot forever.
      validated = await withTimeout(
        pending,
        timeoutMs,
        () =>
          new JobTimeoutError(
            `job "${ctx.jobType}" ${ctx.jobId}: its payload schema did not answer within its timeout of ${timeoutMs} ms`,
          ),
      );
    } catch (thrown) {
      return this.#schemaFailed(ctx, thrown);
    }
    return this.#validated(message, ctx, hasId, validated);
  }

  #validated(
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    validated: Validated,
  ): Verdict | Promise<Verdict> {
    if (validated.ok) return this.#accepted(message, ctx, hasId, validated.data);
    return this.#invalid(ctx.jobId, validated.message);
  }

  #invalid(jobId: string, reason: string): Verdict {
    this.#logger.warn(
      { jobId, jobType: this.#job.jobType, reason },
      'invalid payload; dead-lettering without running the handler',
    );
    return invalidPayload(reason);
  }

  /**
   * The schema itself threw or rejected (a refinement that crashed, an async check whose lookup failed): not a
   * verdict on the payload, so the attempt fails as a handler's would (retried by the job's policy), and the
   * handler does not run. What it threw is passed on as it is: a `NonRetryableError` from a refinement dead-letters.
   */
  #schemaFailed(ctx: DeliveryContext, thrown: unknown): Verdict {
    this.#logger.warn({ err: thrown, jobId: ctx.jobId, jobType: ctx.jobType }, 'the payload schema threw');
    return this.#failed(ctx, thrown);
  }

  /** The payload is valid: run the handler, unless de-duplication finds the job already done. */
  #accepted(
    message: ConsumeMessage,
    ctx: DeliveryContext,
    hasId: boolean,
    payload: unknown,
  ): Verdict | Promise<Verdict> {
    const { dedup } = this.#options;
    // Scheduled jobs and child jobs always: their ids are derived (from the fire time, from the parent's id).
    if (
      dedup &&
      hasId &&
      (this.#job.idempotent || readSchedule(ctx.headers) !== undefined || readParent(ctx.headers) !== undefined)
    )
      return this.#runUnlessDone(message, ctx, payload, dedup);
    return this.#run(message, ctx, payload, false);
  }

  async #runUnlessDone(
    message: ConsumeMessage,
    ctx: DeliveryContext,
    payload: unknown,
    dedup: Pick<DedupStore, 'isDone'>,
  ): Promise<Verdict> {
    if (await this.#alreadyDone(dedup, ctx.jobId)) return DUPLICATE;
    return this.#run(message, ctx, payload, true);
  }

  /** Whether a job already succeeded; when Redis cannot tell, run it (delivery stays at least once). */
  async #alreadyDone(dedup: Pick<DedupStore, 'isDone'>, jobId: string): Promise<boolean> {
    try {
      const done = await dedup.isDone(this.#job.jobType, jobId);
      if (done)
        this.#logger.info(
          { jobId, jobType: this.#job.jobType },
          'duplicate of a job that already succeeded; acked without running',
        );
      return done;
    } catch (err) {
      this.#logger.warn({ err, jobId }, 'de-duplication unavailable (Redis); running the job');
      return false;
    }
  }

  /** Runs the handler; synchronous all the way to the verdict when the handler is. */
  #run(
    message: ConsumeMessage,
    ctx: DeliveryContext,
    payload: unknown,
    recordDone: boolean,
  ): Verdict | Promise<Verdict> {
    const started = performance.now();
    const { observe } = this.#options;
    const { timestamp } = message.properties as { timestamp?: unknown };
    if (observe && typeof timestamp === 'number') observe.wait(Math.max(0, Date.now() / 1000 - timestamp));
    ctx.payload = payload;
    this.#options.onStart?.(ctx);
    let result: unknown;
    try {
      result = (this.#call ??= this.#handlerCall())(payload, ctx);
    } catch (thrown) {
      return this.#threw(ctx, started, thrown);
    }
    if (isThenable(result)) return this.#awaitHandler(ctx, result, started, recordDone);
    return this.#succeeded(ctx, started, recordDone);
  }

  #succeeded(ctx: DeliveryContext, started: number, recordDone: boolean): Verdict {
    this.#options.observe?.duration((performance.now() - started) / 1000);
    const children = ctx.settle();
    if (children.length > 0) return { kind: 'ack', outcome: 'success', recordDone, children };
    return recordDone ? SUCCESS_RECORDED : SUCCESS;
  }

  #threw(ctx: DeliveryContext, started: number, thrown: unknown): Verdict {
    this.#options.observe?.duration((performance.now() - started) / 1000);
    ctx.settle();
    return this.#failed(ctx, thrown);
  }

  async #awaitHandler(
    ctx: DeliveryContext,
    result: PromiseLike<unknown>,
    started: number,
    recordDone: boolean,
  ): Promise<Verdict> {
    const { timeoutMs } = this.#options;
    try {
      await withTimeout(
        result,
        timeoutMs,
        () => {
          const error = new JobTimeoutError(
            `job "${ctx.jobType}" ${ctx.jobId} ran past its timeout of ${timeoutMs} ms`,
          );
          ctx.abort(error);
          return error;
        },
        this.#options.timers,
      );
    } catch (thrown) {
      return this.#threw(ctx, started, thrown);
    }
    return this.#succeeded(ctx, started, recordDone);
  }

  /** The schema or handler failed: the retry policy decides, unless the shutdown stopped the job. */
  #failed(ctx: DeliveryContext, thrown: unknown): Verdict {
    const abortedByShutdown = this.#options.draining() && ctx.aborted && !(ctx.abortReason instanceof JobTimeoutError);
    const verdict = failureVerdict(thrown, { attempt: ctx.attempt, abortedByShutdown }, this.#options.retryPolicy);
    const { jobId, jobType, attempt } = ctx;
    const logger = ctx.loggerIfBuilt;
    if (verdict.kind === 'retry')
      logger.warn({ err: verdict.error, jobId, jobType, attempt, retryInMs: verdict.delayMs }, 'job failed; retrying');
    else if (verdict.kind === 'dead')
      logger.warn(
        { err: verdict.error, jobId, jobType, attempt, reason: verdict.reason },
        'job failed; dead-lettering',
      );
    return verdict;
  }
}
