import type { Logger } from 'pino';
import type { DeadLetterReason } from '../messages/headers.js';

/** The job an event is about. */
export interface JobEvent {
  readonly jobId: string;
  readonly jobType: string;
  /** The attempt that ran (1 for the first). */
  readonly attempt: number;
  /** The message's AMQP headers. */
  readonly headers: Readonly<Record<string, unknown>>;
}

/** The lifecycle events of a worker's jobs, with what each carries besides the job. */
export interface JobEventMap {
  /** The handler is about to be called (the payload passed its schema; not a duplicate). */
  readonly started: JobEvent;
  /** The job succeeded and is acknowledged (its child jobs, if any, confirmed first). */
  readonly succeeded: JobEvent;
  /** The attempt failed and its retry copy is confirmed in the tier that delays the next attempt. */
  readonly retried: JobEvent & {
    readonly error: Error;
    readonly delayMs: number;
    /** The tier's name (`1s`, `30s`, `10m`). */
    readonly tier: string;
    readonly nextAttempt: number;
  };
  /** The job is in its dead-letter queue (the copy confirmed), for `reason`; the handler may never have run. */
  readonly 'dead-lettered': JobEvent & { readonly error: Error; readonly reason: DeadLetterReason };
}

/** A lifecycle event's name. */
export type JobEventName = keyof JobEventMap;

/** A listener of one lifecycle event. What it throws or rejects with is logged; it never changes the job's outcome. */
export type JobEventListener<E extends JobEventName> = (event: JobEventMap[E]) => unknown;

/**
 * The listeners of a worker's lifecycle events. An event is emitted only once it is true (a `retried` after the
 * retry copy was confirmed and the original acknowledged), so a listener can report it as fact. Emitting to no
 * listener costs a lookup.
 */
export class JobEvents {
  readonly #listeners = new Map<JobEventName, Array<JobEventListener<JobEventName>>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  on<E extends JobEventName>(name: E, listener: JobEventListener<E>): void {
    const list = this.#listeners.get(name) ?? [];
    list.push(listener as JobEventListener<JobEventName>);
    this.#listeners.set(name, list);
  }

  off<E extends JobEventName>(name: E, listener: JobEventListener<E>): void {
    const list = this.#listeners.get(name);
    const index = list?.indexOf(listener as JobEventListener<JobEventName>) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
    if (list?.length === 0) this.#listeners.delete(name);
  }

  /** Whether anyone listens to `name`: the event need not be built otherwise. */
  has(name: JobEventName): boolean {
    return this.#listeners.has(name);
  }

  emit<E extends JobEventName>(name: E, event: JobEventMap[E]): void {
    const list = this.#listeners.get(name);
    if (list === undefined) return;
    for (const listener of [...list]) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((err: unknown) => this.#failed(name, event, err));
      } catch (err) {
        this.#failed(name, event, err);
      }
    }
  }

  #failed(name: JobEventName, event: JobEvent, err: unknown): void {
    this.#logger.warn({ err, jobId: event.jobId, jobType: event.jobType, event: name }, 'a job event listener failed');
  }
}
