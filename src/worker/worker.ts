import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { checkSettings, settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { DedupStore } from '../dedup/dedup-store.js';
import { JobPublisher } from '../publisher/job-publisher.js';
import { LazyRedis } from '../redis/lazy-redis.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { QueueConsumer } from '../consumer/queue-consumer.js';
import { JobEvents, type JobEventListener, type JobEventName } from '../consumer/job-events.js';
import type { JobMiddleware } from '../registry/job-definition.js';
import type { SchemaMap } from '../publisher/publish-options.js';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { Publisher } from '../publisher/publisher.js';
import { baseExchanges } from '../topology/topology-plan.js';
import type { WorkerOptions } from './worker-options.js';

/** Lifecycle of a worker. */
export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** What a worker consumes, as printed by `warren start`. */
export interface ConsumedQueue {
  readonly jobType: string;
  readonly queue: string;
  readonly concurrency: number;
  /** Deliveries held at once (running, or waiting for a slot). */
  readonly prefetch: number;
}

/**
 * Runs the registered handlers and the schedules: a consuming connection with one channel per job queue, a
 * separate publishing connection for confirmed retry and dead-letter copies and scheduled jobs, and Redis for
 * per-fire locks and de-duplication. No I/O until `start()`.
 */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #logger: Logger;
  readonly #consumeConnection: BrokerConnection;
  readonly #publishConnection: BrokerConnection;
  readonly #publisher: Publisher;
  readonly #consumers: QueueConsumer[];
  readonly #redis: LazyRedis | undefined;
  #scheduler: Scheduler | undefined;
  readonly #middleware: JobMiddleware[] = [];
  readonly #events: JobEvents;
  #state: WorkerState = 'idle';
  #stopping: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    const { config, logger, registry } = options;
    // A misspelt key in a configuration written in code would be ignored, and its setting left at its default.
    checkSettings(config, 'passed in code');
    const schedules = options.schedules ?? [];
    if (registry.list().length === 0 && schedules.length === 0) {
      throw new IllegalStateError('the worker has nothing to do: register at least one job or schedule');
    }
    this.#options = options;
    this.#logger = logger.child({ component: 'worker' });
    const { metrics } = options;
    const connection = (purpose: 'publish' | 'consume'): BrokerConnection =>
      new BrokerConnection({
        url: config.amqpUrl,
        urlSource: settingSource(config, 'amqpUrl'),
        purpose,
        heartbeatSeconds: config.heartbeatSeconds,
        logger,
        metrics,
        onConnectRetry: options.onConnectRetry,
      });
    this.#consumeConnection = connection('consume');
    this.#publishConnection = connection('publish');
    this.#publisher = new Publisher(this.#publishConnection, {
      exchanges: baseExchanges(config.namespace),
      publishTimeoutMs: config.publishTimeoutMs,
      publishBufferSize: config.publishBufferSize,
      maxPayloadBytes: config.maxPayloadBytes,
      logger,
    });
    metrics?.watchPublishBuffer(() => this.#publisher.bufferLength);
    // Made on first use: only schedules, idempotent jobs and scheduled jobs (from any replica) need Redis.
    const redis =
      config.redisUrl === 'none'
        ? undefined
        : new LazyRedis(config.redisUrl, logger, `warren:${config.namespace}:worker:${hostname()}:${process.pid}`);
    this.#redis = redis;
    const dedup = redis ? new DedupStore(() => redis.get(), config.namespace, config.dedupTtlMs) : undefined;
    this.#events = new JobEvents(this.#logger);
    // Child jobs of the types this worker handles are checked against their schemas before they are sent.
    const schemas: SchemaMap = Object.fromEntries(
      registry.list().flatMap((job) => (job.schema === undefined ? [] : [[job.jobType, job.schema]])),
    );
    const children = new JobPublisher(config, this.#publishConnection, this.#publisher, schemas, metrics);
    this.#consumers = registry.list().map(
      (job) =>
        new QueueConsumer(this.#consumeConnection, job, {
          settings: config,
          publisher: this.#publisher,
          jobTimeoutMs: config.jobTimeoutMs,
          dedup,
          metrics,
          logger,
          ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
          middleware: () => this.#middleware,
          events: this.#events,
          publishChild: (child) => children.publish(child.jobType, child.payload, child.options, child.parentId),
        }),
    );
  }

  /**
   * Adds a middleware around every handler of this worker (see {@link JobMiddleware}), outside each job type's own;
   * the first added is outermost. Only before `start()`.
   * @throws IllegalStateError once the worker has started; TypeError when `middleware` is no function
   */
  use(middleware: JobMiddleware): this {
    if (this.#state !== 'idle')
      throw new IllegalStateError(`worker.use() must be called before start(); the worker is ${this.#state}`);
    if (typeof middleware !== 'function')
      throw new TypeError(`worker.use() takes a function (ctx, next) => …; got ${typeof middleware}`);
    this.#middleware.push(middleware);
    return this;
  }

  /**
   * Listens to a lifecycle event of this worker's jobs: `started`, `succeeded`, `retried`, `dead-lettered` (see
   * {@link JobEventMap}). Each is emitted once it is true (a `retried` after the retry copy was confirmed); what a
   * listener throws is logged and changes nothing.
   */
  on<E extends JobEventName>(event: E, listener: JobEventListener<E>): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Stops a listener added with {@link Worker.on}. */
  off<E extends JobEventName>(event: E, listener: JobEventListener<E>): this {
    this.#events.off(event, listener);
    return this;
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Ready to take work: both connections up, every consumer attached, not draining. */
  get ready(): boolean {
    return (
      this.#state === 'running' &&
      this.#consumeConnection.isConnected() &&
      this.#publishConnection.isConnected() &&
      this.#consumers.every((consumer) => consumer.consuming)
    );
  }

  /** The broker node (`host:port`) each of the worker's connections is on; `undefined` while one is down. */
  get nodes(): { readonly consume: string | undefined; readonly publish: string | undefined } {
    return { consume: this.#consumeConnection.node, publish: this.#publishConnection.node };
  }

  /** The scheduler, when this worker runs schedules. */
  get scheduler(): Scheduler | undefined {
    return this.#scheduler;
  }

  /** The queues consumed, with their concurrency and prefetch. */
  describe(): readonly ConsumedQueue[] {
    return this.#consumers.map((c) => ({
      jobType: c.job.jobType,
      queue: c.queue,
      concurrency: c.concurrency,
      prefetch: c.prefetch,
    }));
  }

  /** Settles dropped because their channel had closed (each such delivery is redelivered by the broker). */
  get staleSettles(): number {
    return this.#consumers.reduce((sum, consumer) => sum + consumer.staleSettles, 0);
  }

  /** Jobs being handled now. */
  get inFlight(): number {
    return this.#consumers.reduce((sum, consumer) => sum + consumer.inFlight, 0);
  }

  /**
   * Connects, declares the topology and starts consuming.
   * @throws ConnectionError (credentials, vhost, unreachable), TopologyConflictError (queue with other arguments)
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new IllegalStateError(`the worker cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    const timeoutMs = this.#options.connectTimeoutMs ?? 15_000;
    try {
      // One after the other: a refused login then fails before the second connection starts, and closing a
      // connection that is still mid-attempt would wait out amqp-connection-manager's reconnect delay.
      await this.#consumeConnection.start(timeoutMs);
      await this.#publishConnection.start(timeoutMs);
      await this.#publisher.start();
      // Redis is optional at startup: locks and de-duplication fail fast while it is down, and it reconnects.
      // Connected now when this worker surely needs it; otherwise on the first scheduled job it handles.
      const needsRedis = (this.#options.schedules ?? []).length > 0 || this.#consumers.some((c) => c.job.idempotent);
      const redisReady = needsRedis ? this.#redis?.get() : undefined;
      // Awaited below; a start that fails before that (a conflicting queue) must not leave its rejection unhandled.
      redisReady?.catch(() => {});
      // Sequential: the first conflicting queue stops startup with its own error, not a pile of them.
      for (const consumer of this.#consumers) await consumer.start();
      // Catch-up reads Redis at once: the first get waits (bounded) for the connection; without it, fires are skipped and counted.
      this.#scheduler = await this.#createScheduler(redisReady === undefined ? undefined : await redisReady);
      await this.#scheduler?.start();
      this.#state = 'running';
      this.#logger.info({ queues: this.describe() }, 'worker started');
    } catch (error) {
      this.#state = 'failed';
      await this.#closeAll();
      throw error;
    }
  }

  /**
   * Graceful stop: cancel consumers (keeping their channels) → wait for in-flight handlers up to
   * `shutdownGraceMs`, then abort their signals → settle confirms → close channels → close connections.
   * Idempotent: every caller awaits the same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'failed') {
      // Never started, or a failed start already closed everything.
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    const { shutdownGraceMs } = this.#options.config;
    await step(this.#logger, 'stop scheduler', async () => this.#scheduler?.stop());
    await Promise.all(
      this.#consumers.map((consumer) => step(this.#logger, 'cancel consumer', () => consumer.stopConsuming())),
    );
    this.#logger.info({ inFlight: this.inFlight, graceMs: shutdownGraceMs }, 'draining in-flight jobs');
    const abortWaitMs = this.#options.abortWaitMs ?? 5_000;
    const left = await Promise.all(this.#consumers.map((consumer) => consumer.drain(shutdownGraceMs, abortWaitMs)));
    const abandoned = left.reduce((a, b) => a + b, 0);
    if (abandoned > 0)
      this.#logger.warn({ abandoned }, 'jobs still running after abort; the broker will redeliver them');
    await this.#closeAll();
    this.#state = 'stopped';
    this.#logger.info('worker stopped');
  }

  async #closeAll(): Promise<void> {
    const log = this.#logger;
    await step(log, 'settle publisher confirms', () => this.#publisher.stop());
    for (const consumer of this.#consumers) await step(log, 'close consumer channel', () => consumer.close());
    await step(log, 'close consuming connection', () => this.#consumeConnection.close());
    await step(log, 'close publishing connection', () => this.#publishConnection.close());
    await step(log, 'close Redis', async () => {
      await this.#scheduler?.stop();
      this.#redis?.disconnect();
    });
  }

  /** The cron publisher, when there are schedules; node-cron and redlock are loaded only then. */
  async #createScheduler(redis: Awaited<ReturnType<LazyRedis['get']>> | undefined): Promise<Scheduler | undefined> {
    const { config, metrics, onFire } = this.#options;
    const schedules = this.#options.schedules ?? [];
    if (schedules.length === 0) return undefined;
    const { FIRE_OUTCOMES, Scheduler } = await import('../scheduler/scheduler.js');
    for (const schedule of schedules) {
      for (const outcome of FIRE_OUTCOMES) metrics?.fires.labels(schedule.name, outcome).inc(0);
    }
    const jobs = new JobPublisher(config, this.#publishConnection, this.#publisher, {}, metrics);
    return new Scheduler({
      namespace: config.namespace,
      schedules,
      publish: (jobType, payload, publishOptions) => jobs.publish(jobType, payload, publishOptions),
      redis,
      fireLockTtlMs: config.fireLockTtlMs,
      logger: this.#options.logger,
      onFire: (schedule, outcome) => {
        metrics?.fires.labels(schedule, outcome).inc();
        onFire?.(schedule, outcome);
      },
    });
  }
}

/** Runs one cleanup step; a failure is logged and does not skip the steps after it. */
async function step(logger: Logger, name: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    logger.warn({ err }, `${name} failed`);
  }
}
