import type { Logger } from 'pino';
import type { MiddlewareContext } from '../registry/job-definition.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import type { ChildJobOptions } from '../registry/job-definition.js';
import { ChildJobs, type ChildJob } from './child-jobs.js';
import type { LazyAbort } from './lazy-abort.js';

/**
 * The {@link JobContext} of one delivery. A class, not an object literal: a literal with getters is built by a
 * runtime call on every delivery, a class instance shares its getters through the prototype. The signal and the
 * logger are built on first use; most handlers touch neither.
 */
export class DeliveryContext implements MiddlewareContext {
  readonly jobId: string;
  readonly jobType: string;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly #controller: LazyAbort;
  readonly #parentLogger: Logger;
  #logger: Logger | undefined;
  #children: ChildJobs | undefined;
  #settled = false;
  /** The payload the handler is called with (after its schema); set just before the call. */
  payload: unknown;

  constructor(
    jobId: string,
    jobType: string,
    attempt: number,
    headers: Readonly<Record<string, unknown>>,
    controller: LazyAbort,
    parentLogger: Logger,
  ) {
    this.jobId = jobId;
    this.jobType = jobType;
    this.attempt = attempt;
    this.headers = headers;
    this.#controller = controller;
    this.#parentLogger = parentLogger;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#parentLogger.child({ jobId: this.jobId, jobType: this.jobType, attempt: this.attempt });
    return this.#logger;
  }

  publish(jobType: string, payload: unknown, options?: ChildJobOptions): string {
    if (this.#settled)
      throw new IllegalStateError(
        `ctx.publish("${jobType}") after job ${this.jobId} had ended: a child job is published from within its handler (await what publishes it)`,
      );
    this.#children ??= new ChildJobs(this.jobId);
    return this.#children.add(jobType, payload, options);
  }

  /**
   * Ends the handler's part: the child jobs it published, in order (the same empty array when none), and a later
   * `publish` throws (a child published after the attempt was decided would be lost without a word).
   */
  settle(): readonly ChildJob[] {
    this.#settled = true;
    return this.#children?.list ?? NO_CHILDREN;
  }

  /** Aborts the job's signal (timeout, shutdown); remembered when the handler never asked for the signal. */
  abort(reason: unknown): void {
    this.#controller.abort(reason);
  }

  get aborted(): boolean {
    return this.#controller.aborted;
  }

  get abortReason(): unknown {
    return this.#controller.reason;
  }

  /** The job's logger when the handler asked for it (its bindings are the same), else the consumer's. */
  get loggerIfBuilt(): Logger {
    return this.#logger ?? this.#parentLogger;
  }
}

const NO_CHILDREN: readonly ChildJob[] = Object.freeze([]);
