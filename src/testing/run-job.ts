import { pino, type Logger } from 'pino';
import { DEFAULT_CONFIG, type WarrenConfig } from '../config/config-options.js';
import { DeliveryRunner } from '../consumer/delivery-runner.js';
import { LazyAbort } from '../consumer/lazy-abort.js';
import type { Verdict } from '../consumer/verdict.js';
import type { DeadLetterReason } from '../messages/headers.js';
import { defineJob } from '../registry/define-job.js';
import type { JobDefinition, JobHandler } from '../registry/job-definition.js';
import type { JobMiddleware } from '../registry/job-definition.js';
import type { PublishOptions } from '../publisher/publish-options.js';
import { resolveRetryPolicy } from '../retry/retry-policy.js';
import { tierName } from '../topology/names.js';
import { jsonDelivery } from './json-delivery.js';

/** The context of the one call {@link runJob} makes; every field is optional. */
export interface RunJobContext {
  /** @defaultValue `'test-job-1'` */
  readonly jobId?: string;
  /** The attempt the call is (a retry's is 2, 3, …): it decides between a retry and `exhausted`. @defaultValue 1 */
  readonly attempt?: number;
  /** The message headers the handler sees in `ctx.headers`. @defaultValue `{}` */
  readonly headers?: Readonly<Record<string, unknown>>;
  /** Aborting it aborts `ctx.signal`, as a worker's shutdown would. */
  readonly signal?: AbortSignal;
  /** The logger behind `ctx.logger`. @defaultValue a silent pino logger */
  readonly logger?: Logger;
  /** Settings the outcome depends on: `maxAttempts`, `retryTiersMs`, `jobTimeoutMs`. @defaultValue warren's defaults */
  readonly config?: Partial<Pick<WarrenConfig, 'maxAttempts' | 'retryTiersMs' | 'jobTimeoutMs'>>;
  /** Middleware around the handler, as `worker.use()` adds them (outside the job's own, first outermost). */
  readonly middleware?: readonly JobMiddleware[];
}

/** A child job the handler published with `ctx.publish`: what the worker sends once the handler has succeeded. */
export interface RunJobChild {
  readonly jobType: string;
  readonly payload: unknown;
  /** Derived from the parent's job id (`<job id>/1`, or `<job id>/<key>`). */
  readonly messageId: string;
  /** Its other publish options (`delayMs`, `runAt`, `headers`). */
  readonly options: Omit<PublishOptions, 'messageId'>;
}

/** What warren would have done with the job after this one call. */
export type RunJobResult =
  | {
      readonly outcome: 'success';
      /**
       * The child jobs it published with `ctx.publish`, in order (a worker sends them, confirmed, before the ack);
       * absent when it published none.
       */
      readonly children?: readonly RunJobChild[];
    }
  | {
      readonly outcome: 'retry';
      /** The retry tier's delay, and its name (`1s`, `30s`, `10m`). */
      readonly delayMs: number;
      readonly tier: string;
      /** The attempt the retry will be. */
      readonly nextAttempt: number;
      /** What was thrown, as warren records it (a non-Error is wrapped). */
      readonly error: Error;
      /** The call ran past its timeout (its signal was aborted). */
      readonly timedOut: boolean;
    }
  | { readonly outcome: 'dead'; readonly reason: DeadLetterReason; readonly error: Error; readonly timedOut: boolean };

/**
 * Calls a handler once, the way a worker calls it, and returns what warren would have done next: `success`, a
 * `retry` (with the tier and its delay) or a `dead` letter (with its reason), instead of throwing. The payload goes
 * through the same path as a delivery's: encoded as JSON, decoded and checked against the job's schema (a
 * violation is `dead` with reason `invalid_payload`, the handler never called), then the handler runs under the
 * job's timeout with a complete context (`jobId`, `jobType`, `attempt`, `headers`, `signal`, `logger`); what it
 * throws is judged by the same retry policy (`NonRetryableError`, `RetryableError({ delayMs })`, the tiers,
 * `maxAttempts`). No broker, no Redis: de-duplication does not apply to a single call.
 *
 * @param job a definition from `defineJob` (its schema, timeout and retry options apply), or a bare handler
 */
export async function runJob<P>(
  job: JobDefinition | JobHandler<P>,
  payload: P,
  ctx: RunJobContext = {},
): Promise<RunJobResult> {
  const definition = typeof job === 'function' ? defineJob('test.job', job as JobHandler<unknown>) : job;
  const settings = { ...DEFAULT_CONFIG, ...ctx.config };
  const policy = resolveRetryPolicy(definition.jobType, definition.retry, settings);
  const runner = new DeliveryRunner(definition, {
    queue: `test.job.${definition.jobType}`,
    retryPolicy: policy,
    timeoutMs: definition.timeoutMs ?? settings.jobTimeoutMs,
    logger: ctx.logger ?? pino({ level: 'silent' }),
    dedup: undefined,
    draining: () => false,
    ...(ctx.middleware ? { middleware: () => ctx.middleware ?? [] } : {}),
  });
  const controller = new LazyAbort();
  const { signal } = ctx;
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  const attempt = ctx.attempt ?? 1;
  const headers = ctx.headers ?? {};
  const verdict = await runner.run(
    jsonDelivery(payload, { routingKey: definition.jobType, headers }),
    { jobId: ctx.jobId ?? 'test-job-1', hasId: true, attempt, headers },
    controller,
  );
  return result(verdict, attempt);
}

function result(verdict: Verdict, attempt: number): RunJobResult {
  switch (verdict.kind) {
    case 'retry':
      return {
        outcome: 'retry',
        delayMs: verdict.delayMs,
        tier: tierName(verdict.delayMs),
        nextAttempt: attempt + 1,
        error: verdict.error,
        timedOut: verdict.timedOut,
      };
    case 'dead':
      return { outcome: 'dead', reason: verdict.reason, error: verdict.error, timedOut: verdict.timedOut };
    default:
      // No de-duplication and no shutdown here: every other verdict is a success.
      if (verdict.kind !== 'ack' || verdict.children === undefined) return { outcome: 'success' };
      return {
        outcome: 'success',
        children: verdict.children.map(({ jobType, payload, options }) => {
          const { messageId, ...rest } = options;
          return Object.freeze({ jobType, payload, messageId, options: rest });
        }),
      };
  }
}
