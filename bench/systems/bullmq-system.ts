import { Queue, Worker, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { JOB_TYPE, type BenchPayload } from '../lib/payload.js';
import type { BenchSystem, ConsumerHooks, TrialTarget } from './system.js';

function connectionOf(redisUrl: string): ConnectionOptions {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    // BullMQ workers need this (blocking commands must not be cut off by ioredis' retry limit).
    maxRetriesPerRequest: null,
  };
}

/**
 * BullMQ on the local Redis with the same concurrency: a `Queue` publishing (`add` awaited) and a `Worker`
 * whose processor is the same no-op. Jobs are removed on completion (the counterpart of an ack); a retry is
 * `attempts: 2` with a fixed backoff of the tier's delay. The key prefix is unique per trial and obliterated after.
 */
export class BullmqSystem implements BenchSystem {
  readonly name = 'bullmq' as const;
  readonly #target: TrialTarget;
  readonly #connection: ConnectionOptions;
  readonly #jobOptions: JobsOptions;
  #queue: Queue | undefined;
  #worker: Worker | undefined;

  constructor(target: TrialTarget) {
    this.#target = target;
    this.#connection = connectionOf(target.redisUrl);
    const { retryDelayMs } = target;
    this.#jobOptions = {
      removeOnComplete: true,
      removeOnFail: true,
      ...(retryDelayMs === undefined ? {} : { attempts: 2, backoff: { type: 'fixed', delay: retryDelayMs } }),
    };
  }

  #ensureQueue(): Queue {
    this.#queue ??= new Queue(JOB_TYPE, {
      connection: this.#connection,
      prefix: this.#target.id,
      defaultJobOptions: this.#jobOptions,
    });
    return this.#queue;
  }

  async declare(): Promise<void> {
    await this.#ensureQueue().waitUntilReady();
  }

  async startConsumer(hooks: ConsumerHooks): Promise<void> {
    const worker = new Worker(
      JOB_TYPE,
      async (job) => {
        hooks.handle(job.data as BenchPayload, job.attemptsMade + 1);
      },
      { connection: this.#connection, prefix: this.#target.id, concurrency: this.#target.prefetch },
    );
    worker.on('completed', () => hooks.acked());
    worker.on('error', () => {});
    await worker.waitUntilReady();
    this.#worker = worker;
  }

  async startPublisher(): Promise<void> {
    await this.#ensureQueue().waitUntilReady();
  }

  publish(payload: BenchPayload): Promise<unknown> {
    return this.#ensureQueue().add(JOB_TYPE, payload);
  }

  async stopPublisher(): Promise<void> {
    // The queue object is also the handle `destroy` obliterates with; it closes in `close`.
  }

  async stopConsumer(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.close();
  }

  async close(): Promise<void> {
    await this.stopConsumer();
  }

  async destroy(): Promise<void> {
    const queue = this.#ensureQueue();
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
      this.#queue = undefined;
    }
  }
}
