import { randomUUID } from 'node:crypto';
import type { ConsumeMessage, Options } from 'amqplib';
import type { ScheduledTask } from 'node-cron';
import { pino, type Logger } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { loadConfig } from '../config/load-config.js';
import { invalidJobType } from '../config/name-rules.js';
import { DeliveryRunner, identifyDelivery, type DeliveryIdentity } from '../consumer/delivery-runner.js';
import { LazyAbort } from '../consumer/lazy-abort.js';
import { failureVerdict, type Verdict } from '../consumer/verdict.js';
import { childPublishFailure, type ChildJob } from '../consumer/child-jobs.js';
import type { JobMiddleware } from '../registry/job-definition.js';
import { publishHeaders } from '../publisher/publish-headers.js';
import type { RetryPolicy } from '../retry/retry-policy.js';
import { verdictCopy } from '../consumer/verdict-copy.js';
import { readDeadLetterContext, type DeadLetterContext, type DeadLetterMessage } from '../dlq/dead-letter-context.js';
import { ConfigError } from '../errors/config-error.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';
import { PayloadTooLargeError } from '../errors/payload-too-large-error.js';
import { PublishOptionsError } from '../errors/publish-options-error.js';
import { UnroutableError } from '../errors/unroutable-error.js';
import { encodePayload, jobProperties } from '../messages/encode.js';
import { toError } from '../messages/failure-headers.js';
import { HEADERS } from '../messages/headers.js';
import { publishOptionsProblem } from '../publisher/publish-options-problem.js';
import type { PublishOptions } from '../publisher/publish-options.js';
import { DEFAULT_CONCURRENCY, type JobDefinition } from '../registry/job-definition.js';
import { Registry, type HandlerEntry } from '../registry/registry.js';
import { resolveRetryPolicy } from '../retry/retry-policy.js';
import { loadNodeCron } from '../scheduler/load-node-cron.js';
import { nextFireAfter } from '../scheduler/next-fire.js';
import {
  defineSchedule,
  isScheduleDefinition,
  type ScheduleDefinition,
  type ScheduleInput,
} from '../scheduler/schedule-definition.js';
import { fireMessageId } from '../scheduler/scheduler.js';
import {
  delayedExchange,
  delayRoutingKey,
  jobQueue,
  jobsExchange,
  requeueExchange,
  tierName,
} from '../topology/names.js';
import { RealClock, VirtualClock, type HarnessClock } from './harness-clock.js';
import type { FiredSchedule, HandledJob, HandledOutcome, PublishedJob } from './harness-records.js';

/** Options of {@link createTestHarness}. */
export interface TestHarnessOptions {
  /** The job handlers: what a handlers module's `handlers` array holds (`defineJob` results, `@Job` classes), or a `Registry`. */
  readonly handlers: readonly HandlerEntry[] | Registry;
  /** Schedules to fire on the harness's clock (`defineSchedule` results or the same objects as the schedules file). */
  readonly schedules?: ReadonlyArray<ScheduleInput | ScheduleDefinition>;
  /**
   * Settings, as a worker takes them (`maxAttempts`, `retryTiersMs`, `jobTimeoutMs`, `dedupTtlMs`, `maxPayloadBytes`,
   * `deliveryLimit`, `namespace`, …). Neither the environment nor a config file is read. @defaultValue warren's defaults
   */
  readonly config?: Partial<WarrenConfig>;
  /**
   * `virtual`: time moves only in `advance`, `drain` and `waitFor`, straight to the next thing due (a retry tier of
   * an hour costs no waiting). `real`: the process's clock and timers, as a worker runs. @defaultValue `virtual`
   */
  readonly clock?: 'virtual' | 'real';
  /** Where virtual time starts. @defaultValue the current time */
  readonly startAt?: Date | number;
  /**
   * Virtual clock only: how long (real milliseconds) a running handler may go without settling before the clock moves
   * on without it, to the next thing due (its own timeout, say). Raise it for handlers that do slow real I/O.
   * @defaultValue 200
   */
  readonly idleMs?: number;
  /** The logger behind every `ctx.logger`. @defaultValue a silent pino logger */
  readonly logger?: Logger;
  /** Middleware around every handler, as `worker.use()` adds them (first outermost). */
  readonly middleware?: readonly JobMiddleware[];
}

/** How far `drain` and `waitFor` may go. */
export interface HarnessWaitOptions {
  /**
   * Virtual clock: how far time may move (milliseconds or a duration such as `"2h"`); real clock: how long to wait.
   * @defaultValue `waitFor`: 1 day virtual, 10 s real; `drain`: unbounded virtual, 30 s real
   */
  readonly timeoutMs?: number | string;
}

/**
 * Creates the local job queue: warren's delivery path in process, without a broker or Redis, for tests. See
 * {@link TestHarness}.
 *
 * @example
 * const harness = createTestHarness({ handlers: [sendEmail], config: { retryTiersMs: [60_000, 600_000] } });
 * await harness.publish('email.send', { to: 'a@example.com' });
 * await harness.drain();
 * expect(harness.handled('email.send').map((h) => h.outcome)).toEqual(['success']);
 */
export function createTestHarness(options: TestHarnessOptions): TestHarness {
  return new TestHarness(options);
}

/** A message waiting in, or moving between, the harness's queues: what the broker would hold. */
interface StoredMessage {
  readonly content: Buffer;
  readonly properties: Options.Publish;
  readonly exchange: string;
  readonly routingKey: string;
}

/** One job type's queue: its handler, what waits, and what runs. */
interface HarnessQueue {
  readonly definition: JobDefinition;
  readonly name: string;
  readonly runner: DeliveryRunner;
  readonly policy: RetryPolicy;
  readonly concurrency: number;
  readonly ready: StoredMessage[];
  running: number;
}

/** A delivery whose handler has not settled yet. */
interface Running {
  /** It went `idleMs` without settling: the virtual clock no longer waits for it. */
  blocked: boolean;
}

/** Steps `drain` takes before it gives up on a queue that never empties. */
const MAX_STEPS = 100_000;
const DAY_MS = 86_400_000;
/** Longest delay `setTimeout` keeps; a longer wait is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The local job queue. It runs the worker's own delivery path — payload decoding and schema validation, the handler
 * under its timeout with a full context, the retry decision and its tiers, dead-letter reasons and headers,
 * de-duplication of idempotent and scheduled jobs — on an in-memory transport with a virtual clock (or the real
 * one), so a test sees what a worker on RabbitMQ would do. It holds each job type to its `concurrency`, delays
 * delayed publishes to the whole second, and fires schedules on its clock.
 *
 * Jobs start as soon as they are published (as on a broker); only time waits: with the virtual clock, retries,
 * delays, timeouts and fires happen when `advance`, `drain` or `waitFor` move the clock to them, in order.
 * It is for tests and development: nothing is durable, and it never talks to another process.
 */
export class TestHarness {
  /** The settings in force. */
  readonly config: WarrenConfig;
  readonly #clock: HarnessClock;
  readonly #virtual: VirtualClock | undefined;
  readonly #idleMs: number;
  readonly #logger: Logger;
  readonly #queues = new Map<string, HarnessQueue>();
  readonly #middleware: readonly JobMiddleware[];
  readonly #schedules: readonly ScheduleDefinition[];
  readonly #tasks: ScheduledTask[] = [];
  readonly #published: PublishedJob[] = [];
  readonly #handled: HandledJob[] = [];
  readonly #dead = new Map<string, DeadLetterMessage[]>();
  readonly #fires: FiredSchedule[] = [];
  /** De-duplication records: `<job type>:<message id>` → when the record expires (clock time). */
  readonly #done = new Map<string, number>();
  readonly #running = new Set<Running>();
  readonly #errors: Error[] = [];
  /** Retry copies and delayed jobs on their way (fires are not counted: they never end). */
  #inTransit = 0;
  #settled = 0;
  #wake: (() => void) | undefined;
  #deliveryTag = 0;
  #closed = false;

  constructor(options: TestHarnessOptions) {
    this.config = loadConfig({ overrides: options.config ?? {}, env: {}, file: false });
    const startMs = options.startAt instanceof Date ? options.startAt.getTime() : (options.startAt ?? Date.now());
    if (!Number.isFinite(startMs))
      throw new ConfigError(`startAt must be a valid time; got ${String(options.startAt)}`);
    const idleMs = options.idleMs ?? 200;
    if (!Number.isInteger(idleMs) || idleMs < 1)
      throw new ConfigError(`idleMs must be a whole number of milliseconds, 1 or more; got ${String(idleMs)}`);
    this.#idleMs = idleMs;
    const clock = options.clock ?? 'virtual';
    if (clock !== 'virtual' && clock !== 'real')
      throw new ConfigError(`clock must be "virtual" or "real"; got ${JSON.stringify(clock)}`);
    this.#virtual = clock === 'virtual' ? new VirtualClock(startMs) : undefined;
    this.#clock = this.#virtual ?? new RealClock();
    this.#logger = options.logger ?? pino({ level: 'silent' });
    const middleware: unknown = options.middleware ?? [];
    if (!Array.isArray(middleware) || !middleware.every((m) => typeof m === 'function'))
      throw new ConfigError('middleware must be an array of functions (ctx, next) => …');
    this.#middleware = Object.freeze([...(middleware as JobMiddleware[])]);
    const registry = options.handlers instanceof Registry ? options.handlers : new Registry().add(options.handlers);
    for (const definition of registry.list()) this.#queues.set(definition.jobType, this.#queue(definition));
    this.#schedules = (options.schedules ?? []).map((s) => (isScheduleDefinition(s) ? s : defineSchedule(s)));
    const cron = loadNodeCron();
    for (const schedule of this.#schedules) {
      const task = cron.createTask(schedule.cron, () => {}, { timezone: schedule.timeZone });
      this.#tasks.push(task);
      this.#armFire(schedule, task);
    }
  }

  #queue(definition: JobDefinition): HarnessQueue {
    const { jobType } = definition;
    const name = jobQueue(this.config.namespace, jobType);
    const policy = resolveRetryPolicy(jobType, definition.retry, this.config);
    const middleware = this.#middleware;
    const runner = new DeliveryRunner(definition, {
      queue: name,
      retryPolicy: policy,
      middleware: () => middleware,
      timeoutMs: definition.timeoutMs ?? this.config.jobTimeoutMs,
      logger: this.#logger.child({ component: 'consumer', queue: name }),
      dedup: { isDone: (type, id) => Promise.resolve(this.#isDone(type, id)) },
      draining: () => false,
      timers: {
        setTimeout: (fn, ms) => this.#clock.setTimeout(fn, ms),
        clearTimeout: (h) => this.#clock.clearTimeout(h),
      },
    });
    return {
      definition,
      name,
      runner,
      policy,
      concurrency: definition.concurrency ?? DEFAULT_CONCURRENCY,
      ready: [],
      running: 0,
    };
  }

  /** The harness's time: virtual, or the process's. */
  now(): Date {
    return new Date(this.#clock.now());
  }

  /**
   * Publishes a job as `WarrenClient#publish` does, and resolves with its message id. The same checks apply, with
   * the same errors: `PublishOptionsError` (job type or options), `PayloadInvalidError` (not JSON),
   * `PayloadTooLargeError` (`maxPayloadBytes`), `UnroutableError` (no handler for the job type: on a broker, no
   * queue). With `delayMs` or `runAt` the job becomes due at the whole second its delay ends on.
   */
  publish(jobType: string, payload: unknown, options: PublishOptions = {}): Promise<string> {
    try {
      return Promise.resolve(this.#publish(jobType, payload, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #publish(jobType: string, payload: unknown, options: PublishOptions, parentId?: string): string {
    if (this.#closed) throw new IllegalStateError('cannot publish: the test harness is closed');
    const invalid = invalidJobType(jobType);
    if (invalid !== undefined) throw new PublishOptionsError(`cannot publish: ${invalid}`);
    const problem = publishOptionsProblem(options);
    if (problem !== undefined) throw new PublishOptionsError(`cannot publish "${jobType}": ${problem}`);
    const body = encodePayload(payload);
    if (typeof body === 'string') throw new PayloadInvalidError(`cannot publish "${jobType}": ${body}`);
    const now = this.#clock.now();
    const messageId = options.messageId ?? randomUUID();
    const headers = publishHeaders(options, parentId);
    const dueAt = options.runAt?.getTime() ?? (options.delayMs === undefined ? undefined : now + options.delayMs);
    const queue = this.#queues.get(jobType);
    if (dueAt === undefined) {
      this.#checkSize(body, messageId, jobsExchange(this.config.namespace), jobType);
      if (!queue)
        throw new UnroutableError(
          `message ${messageId} was returned: no queue is bound to ${jobsExchange(this.config.namespace)} for routing key "${jobType}" (is a worker for this job type declared?)`,
        );
      this.#record(messageId, jobType, body, headers ?? {}, now, now, options.schedule);
      this.#enqueue(queue, {
        content: body,
        properties: jobProperties(jobType, messageId, headers === undefined ? undefined : { ...headers }, now),
        exchange: jobsExchange(this.config.namespace),
        routingKey: jobType,
      });
      return messageId;
    }
    if (!queue)
      throw new UnroutableError(
        `cannot delay "${jobType}": its queue ${jobQueue(this.config.namespace, jobType)} does not exist (is a worker for this job type declared?)`,
      );
    // Whole seconds, rounded up, as the delay cascade: never early.
    const delaySeconds = Math.max(0, Math.ceil((dueAt - now) / 1000));
    const routingKey = delayRoutingKey(delaySeconds, jobType);
    this.#checkSize(body, messageId, delayedExchange(this.config.namespace), routingKey);
    const delayedHeaders = { ...headers, [HEADERS.dueAt]: new Date(dueAt).toISOString() };
    this.#record(messageId, jobType, body, delayedHeaders, now, now + delaySeconds * 1000, options.schedule);
    const message: StoredMessage = {
      content: body,
      properties: jobProperties(jobType, messageId, delayedHeaders, now),
      exchange: delayedExchange(this.config.namespace),
      routingKey,
    };
    this.#later(delaySeconds * 1000, () => this.#enqueue(queue, message));
    return messageId;
  }

  #checkSize(body: Buffer, messageId: string, exchange: string, routingKey: string): void {
    const limit = this.config.maxPayloadBytes;
    if (body.length > limit)
      throw new PayloadTooLargeError(
        `message ${messageId} to ${exchange} "${routingKey}" is ${body.length} bytes; the limit is ${limit} bytes (maxPayloadBytes)`,
      );
  }

  #record(
    jobId: string,
    jobType: string,
    body: Buffer,
    headers: Readonly<Record<string, unknown>>,
    publishedAt: number,
    deliverAt: number,
    schedule: string | undefined,
  ): void {
    this.#published.push(
      Object.freeze({
        jobId,
        jobType,
        payload: decoded(body),
        headers: Object.freeze({ ...headers }),
        publishedAt: new Date(publishedAt),
        deliverAt: new Date(deliverAt),
        schedule,
      }),
    );
  }

  /** Runs `then` after `ms` on the clock, counted as a job in transit (a retry copy, a delayed job). */
  #later(ms: number, then: () => void): void {
    this.#inTransit += 1;
    this.#clock.setTimeout(() => {
      this.#inTransit -= 1;
      then();
    }, ms);
  }

  #enqueue(queue: HarnessQueue, message: StoredMessage): void {
    queue.ready.push(message);
    this.#pump(queue);
  }

  /** Starts what waits in a queue, up to its concurrency. */
  #pump(queue: HarnessQueue): void {
    while (queue.running < queue.concurrency && !this.#closed) {
      const message = queue.ready.shift();
      if (message === undefined) return;
      this.#deliver(queue, message);
    }
  }

  #deliver(queue: HarnessQueue, stored: StoredMessage): void {
    this.#deliveryTag += 1;
    const message = consumeMessage(stored, this.#deliveryTag);
    const id = identifyDelivery(message);
    const startedAt = this.#clock.now();
    queue.running += 1;
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = queue.runner.run(message, id, new LazyAbort());
    } catch (error) {
      // The runner turns every failure of a job into a verdict; this is a fault of warren's own.
      this.#errors.push(toError(error));
      queue.running -= 1;
      return;
    }
    if (!(verdict instanceof Promise)) {
      this.#settle(queue, message, id, verdict, startedAt);
      return;
    }
    const running: Running = { blocked: false };
    this.#running.add(running);
    verdict
      .then(
        (settled) => this.#settle(queue, message, id, settled, startedAt),
        (error: unknown) => {
          this.#errors.push(toError(error));
          queue.running -= 1;
        },
      )
      .finally(() => {
        this.#running.delete(running);
        this.#settled += 1;
        this.#wake?.();
      });
  }

  /** Applies a verdict as the worker's `VerdictApplier` does, to the harness's queues, then starts the next job. */
  #settle(
    queue: HarnessQueue,
    message: ConsumeMessage,
    id: DeliveryIdentity,
    verdict: Verdict,
    startedAt: number,
  ): void {
    const now = this.#clock.now();
    const { jobType } = queue.definition;
    const namespace = this.config.namespace;
    let outcome: HandledOutcome;
    if (verdict.kind === 'ack' && verdict.children !== undefined) {
      const failure = this.#publishChildren(id, verdict.children);
      if (failure !== undefined)
        return this.#settle(
          queue,
          message,
          id,
          failureVerdict(failure, { attempt: id.attempt, abortedByShutdown: false }, queue.policy),
          startedAt,
        );
    }
    switch (verdict.kind) {
      case 'ack':
        if (verdict.recordDone) this.#done.set(`${jobType}:${id.jobId}`, now + this.config.dedupTtlMs);
        outcome = verdict.outcome;
        break;
      case 'retry': {
        const copy = verdictCopy(verdict, message, id, { namespace, jobType, queue: queue.name, now: new Date(now) });
        // The tier queue dead-letters the copy back to the job queue when its time-to-live ends.
        this.#later(verdict.delayMs, () =>
          this.#enqueue(queue, { content: message.content, ...copy, exchange: requeueExchange(namespace) }),
        );
        outcome = 'retry';
        break;
      }
      case 'dead': {
        const copy = verdictCopy(verdict, message, id, { namespace, jobType, queue: queue.name, now: new Date(now) });
        const letters = this.#dead.get(jobType) ?? [];
        letters.push({ content: message.content, properties: copy.properties });
        this.#dead.set(jobType, letters);
        outcome = verdict.reason === 'invalid_payload' ? 'invalid' : 'dead';
        break;
      }
      case 'give-back':
      case 'defer':
        // Only a shutdown or a crash makes these; the harness has neither. Back in line, as on a broker.
        queue.ready.unshift({
          content: message.content,
          properties: message.properties,
          exchange: message.fields.exchange,
          routingKey: message.fields.routingKey,
        });
        queue.running -= 1;
        return;
    }
    this.#handled.push(
      Object.freeze({
        jobId: id.jobId,
        jobType,
        attempt: id.attempt,
        payload: decoded(message.content),
        outcome,
        reason: verdict.kind === 'dead' ? verdict.reason : undefined,
        error: verdict.kind === 'retry' || verdict.kind === 'dead' ? verdict.error : undefined,
        delayMs: verdict.kind === 'retry' ? verdict.delayMs : undefined,
        tier: verdict.kind === 'retry' ? tierName(verdict.delayMs) : undefined,
        timedOut: verdict.kind === 'retry' || verdict.kind === 'dead' ? verdict.timedOut : false,
        startedAt: new Date(startedAt),
        settledAt: new Date(now),
      }),
    );
    queue.running -= 1;
    this.#pump(queue);
  }

  /** Publishes a success's children, as the worker does before its ack; the failure of the attempt if one is refused. */
  #publishChildren(id: DeliveryIdentity, children: readonly ChildJob[]): Error | undefined {
    const failed: Array<{ child: ChildJob; error: unknown }> = [];
    for (const child of children) {
      try {
        this.#publish(child.jobType, child.payload, child.options, child.parentId);
      } catch (error) {
        failed.push({ child, error });
      }
    }
    return failed.length === 0 ? undefined : childPublishFailure(id.jobId, failed, children.length);
  }

  #isDone(jobType: string, jobId: string): boolean {
    const key = `${jobType}:${jobId}`;
    const expires = this.#done.get(key);
    if (expires === undefined) return false;
    if (expires > this.#clock.now()) return true;
    this.#done.delete(key);
    return false;
  }

  /** Sets the timer of a schedule's next fire after now. */
  #armFire(schedule: ScheduleDefinition, task: ScheduledTask): void {
    const next = nextFireAfter(task, schedule.cron, this.#clock.now());
    if (next === undefined) return;
    const wait = (): void => {
      const remaining = next.getTime() - this.#clock.now();
      if (remaining > MAX_TIMER_MS) this.#clock.setTimeout(wait, MAX_TIMER_MS);
      else this.#clock.setTimeout(() => this.#fire(schedule, task, next), remaining);
    };
    wait();
  }

  /** One fire: its job published with message id `<schedule>@<fire time>`, as the scheduler does. */
  #fire(schedule: ScheduleDefinition, task: ScheduledTask, fireTime: Date): void {
    const jobId = fireMessageId(schedule.name, fireTime);
    let error: Error | undefined;
    try {
      this.#publish(schedule.jobType, schedule.payload, { messageId: jobId, schedule: schedule.name });
    } catch (thrown) {
      error = thrown as Error;
      this.#logger.error({ err: error, schedule: schedule.name, messageId: jobId }, 'scheduled publish failed');
    }
    this.#fires.push(
      Object.freeze({
        schedule: schedule.name,
        fireTime,
        jobId,
        outcome: error === undefined ? ('published' as const) : ('publish_error' as const),
        error,
      }),
    );
    this.#armFire(schedule, task);
  }

  /** Every job published so far (by the test, by fires), in order; of one job type when given. */
  published(jobType?: string): readonly PublishedJob[] {
    return jobType === undefined ? [...this.#published] : this.#published.filter((p) => p.jobType === jobType);
  }

  /** Every delivery settled so far, in the order they settled, with its attempt and outcome; of one job type when given. */
  handled(jobType?: string): readonly HandledJob[] {
    return jobType === undefined ? [...this.#handled] : this.#handled.filter((h) => h.jobType === jobType);
  }

  /**
   * The dead letters of a job type, oldest first, with the fields `warren dlq peek --json` prints (read by the same
   * function from the same headers): `reason`, `attempts`, `errorName`, `errorMessage`, `errorStack`,
   * `firstFailureAt`, `lastFailureAt`, `originalQueue`, `body`, …
   */
  deadLetters(jobType: string): readonly DeadLetterContext[] {
    const settings = { deliveryLimit: this.config.deliveryLimit };
    return (this.#dead.get(jobType) ?? []).map((message) => readDeadLetterContext(message, settings));
  }

  /** Every fire of the schedules so far; of one schedule when given. */
  fires(schedule?: string): readonly FiredSchedule[] {
    return schedule === undefined ? [...this.#fires] : this.#fires.filter((f) => f.schedule === schedule);
  }

  /**
   * Virtual clock: moves time forward by `duration` (milliseconds or `"10m"`, `"1h"`, …), running every retry, delayed
   * job, timeout and fire due in that span, in order, each at its own time; jobs they start run before the clock
   * moves on. Resolves once the clock stands at the end of the span.
   * @throws IllegalStateError with the real clock
   */
  async advance(duration: number | string): Promise<void> {
    const virtual = this.#requireVirtual('advance');
    const ms = durationMs(duration, 'advance');
    const target = virtual.now() + ms;
    await this.#runUntil(virtual, target, () => false);
    virtual.moveTo(target);
  }

  /**
   * Runs until nothing is left to do: no job waiting, running, in a retry tier or delayed. With the virtual clock
   * time moves straight to each next thing due (fires due on the way fire; the fires after it do not keep `drain`
   * going). Rejects when a job type never empties (a handler that publishes without end) or, on the real clock,
   * after `timeoutMs`.
   */
  async drain(options: HarnessWaitOptions = {}): Promise<void> {
    const idle = (): boolean => this.#idle();
    if (this.#virtual) {
      const limit =
        options.timeoutMs === undefined ? Infinity : this.#virtual.now() + durationMs(options.timeoutMs, 'drain');
      if (await this.#runUntil(this.#virtual, limit, idle)) return;
      throw new Error(`drain: jobs were still due after ${this.#describeWait(limit)}; ${this.#describeState()}`);
    }
    const timeoutMs = options.timeoutMs === undefined ? 30_000 : durationMs(options.timeoutMs, 'drain');
    await this.#poll(idle, timeoutMs, 'drain');
  }

  /**
   * Runs until `predicate` holds. With the virtual clock time moves to each next thing due until it does (at most
   * `timeoutMs` of virtual time, 1 day by default); with the real clock it polls for up to `timeoutMs` (10 s).
   * Rejects when the time is up or nothing is left that could change the answer.
   */
  async waitFor(predicate: (harness: TestHarness) => boolean, options: HarnessWaitOptions = {}): Promise<void> {
    const holds = (): boolean => predicate(this);
    if (this.#virtual) {
      const span = options.timeoutMs === undefined ? DAY_MS : durationMs(options.timeoutMs, 'waitFor');
      const limit = this.#virtual.now() + span;
      if (await this.#runUntil(this.#virtual, limit, holds)) return;
      throw new Error(
        `waitFor: the condition was still false ${this.#virtual.nextDue() === undefined ? 'with nothing left to run' : `after ${formatDuration(span)} of virtual time`}; ${this.#describeState()}`,
      );
    }
    const timeoutMs = options.timeoutMs === undefined ? 10_000 : durationMs(options.timeoutMs, 'waitFor');
    await this.#poll(holds, timeoutMs, 'waitFor');
  }

  /** Stops every timer and fire; what is running finishes, nothing new starts. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#clock.clearAll();
      for (const task of this.#tasks) void task.destroy();
    }
    return Promise.resolve();
  }

  #requireVirtual(what: string): VirtualClock {
    if (!this.#virtual)
      throw new IllegalStateError(
        `${what}() moves the virtual clock; this harness runs on the real one (clock: "real"): use drain() or waitFor()`,
      );
    return this.#virtual;
  }

  #idle(): boolean {
    if (this.#inTransit > 0) return false;
    for (const queue of this.#queues.values()) if (queue.running > 0 || queue.ready.length > 0) return false;
    return true;
  }

  /**
   * The virtual clock's loop: let what runs settle, stop once `done` holds, else step the clock to the next timer
   * due by `limitMs` and run it. False when no timer is due by then.
   */
  async #runUntil(virtual: VirtualClock, limitMs: number, done: () => boolean): Promise<boolean> {
    for (let steps = 0; ; steps += 1) {
      await this.#quiesce();
      this.#rethrow();
      if (done()) return true;
      if (steps >= MAX_STEPS)
        throw new Error(
          `the test harness took ${MAX_STEPS} steps and is still busy (a handler that publishes jobs without end?); ${this.#describeState()}`,
        );
      if (virtual.step(limitMs)) continue;
      // Nothing is due on the clock, but handlers still run on real time (slow I/O): wait for one to settle.
      if (virtual.nextDue() !== undefined || this.#running.size === 0) return false;
      await this.#nextSettle();
    }
  }

  #nextSettle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Waits until every running handler has settled or gone `idleMs` without settling (then the clock may move past
   * it: it waits for a timer, or for real I/O that takes longer than the harness is told to wait).
   */
  async #quiesce(): Promise<void> {
    await turn();
    for (;;) {
      const waiting = [...this.#running].filter((r) => !r.blocked);
      if (waiting.length === 0) return;
      const before = this.#settled;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#idleMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      await turn();
      if (this.#settled === before) for (const running of waiting) running.blocked = true;
    }
  }

  async #poll(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#rethrow();
      if (done()) return;
      if (Date.now() >= deadline)
        throw new Error(`${what}: timed out after ${formatDuration(timeoutMs)}; ${this.#describeState()}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  #rethrow(): void {
    const [error] = this.#errors.splice(0);
    if (error !== undefined) throw error;
  }

  #describeWait(limitMs: number): string {
    return Number.isFinite(limitMs) ? `${formatDuration(limitMs - this.#clock.now())} more of virtual time` : 'that';
  }

  #describeState(): string {
    let waiting = 0;
    let running = 0;
    for (const queue of this.#queues.values()) {
      waiting += queue.ready.length;
      running += queue.running;
    }
    return `${this.#handled.length} deliveries handled, ${running} running, ${waiting} waiting, ${this.#inTransit} in a retry tier or delayed`;
  }
}

/** A duration argument as milliseconds. @throws ConfigError naming the call and the value */
function durationMs(value: number | string, what: string): number {
  const ms = typeof value === 'string' ? parseDuration(value) : value;
  if (ms === undefined || !Number.isFinite(ms) || ms < 0)
    throw new ConfigError(
      `${what}: the duration must be milliseconds (0 or more) or a duration such as "30s" or "10m"; got ${JSON.stringify(value)}`,
    );
  return ms;
}

/** Lets pending promise chains (a handler's awaits of already-settled work) run to their end. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The body as JSON, or `undefined` when it is none. */
function decoded(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** A stored message as amqplib hands a delivery to a consumer. */
function consumeMessage(stored: StoredMessage, deliveryTag: number): ConsumeMessage {
  const p = stored.properties;
  return {
    content: stored.content,
    fields: {
      deliveryTag,
      redelivered: false,
      exchange: stored.exchange,
      routingKey: stored.routingKey,
      consumerTag: 'warren-test-harness',
    },
    properties: {
      contentType: p.contentType,
      contentEncoding: p.contentEncoding,
      // A copy per delivery, as a broker decodes one: a handler that changes its headers changes no other delivery.
      headers: structuredClone(p.headers ?? {}) as Record<string, unknown>,
      deliveryMode: 2,
      priority: undefined,
      correlationId: p.correlationId,
      replyTo: undefined,
      expiration: undefined,
      messageId: p.messageId,
      timestamp: p.timestamp,
      type: p.type,
      userId: undefined,
      appId: p.appId,
      clusterId: undefined,
    },
  };
}
