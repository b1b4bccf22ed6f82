import amqp from 'amqplib';
import { Registry as MetricsRegistry } from 'prom-client';
import {
  Registry,
  WarrenClient,
  WarrenMetrics,
  Worker,
  createLogger,
  defineJob,
  loadConfig,
  planTopology,
  type WarrenConfig,
} from '../../src/index.js';
import { brokerUrls } from '../../src/config/broker-urls.js';
import { JOB_TYPE, type BenchPayload } from '../lib/payload.js';
import { shortJobPrefetch, type BenchSystem, type ConsumerHooks, type TrialTarget } from './system.js';

/**
 * warren through its public API only, as an application uses it: a config from `loadConfig` with overrides, a job
 * from `defineJob` with its concurrency, a `Registry`, a `Worker` (consuming) and a `WarrenClient` (publishing
 * with confirms). Successful settles are counted through the worker's `onOutcome` hook.
 */
export class WarrenSystem implements BenchSystem {
  readonly name = 'warren' as const;
  readonly #target: TrialTarget;
  readonly #config: WarrenConfig;
  readonly #metrics: WarrenMetrics | undefined;
  #worker: Worker | undefined;
  #client: WarrenClient | undefined;

  constructor(target: TrialTarget) {
    this.#target = target;
    this.#config = warrenConfig(target);
    this.#metrics = target.metrics ? new WarrenMetrics(new MetricsRegistry()) : undefined;
  }

  #newWorker(hooks: ConsumerHooks): Worker {
    const { prefetch, retryDelayMs } = this.#target;
    const job = defineJob(JOB_TYPE, (payload: BenchPayload, ctx) => hooks.handle(payload, ctx.attempt), {
      concurrency: prefetch,
      // The setting for short jobs (README, "Concurrency and prefetch"): the next delivery is there when one ends.
      prefetch: shortJobPrefetch(prefetch),
      ...(retryDelayMs === undefined ? {} : { retry: { tiers: [retryDelayMs] } }),
    });
    const worker = new Worker({
      config: this.#config,
      registry: new Registry().register(job),
      logger: createLogger(this.#config.logLevel),
      onOutcome: (outcome) => {
        if (outcome === 'success') hooks.acked();
      },
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
    });
    for (let i = 0; i < this.#target.middleware; i += 1) worker.use((_ctx, next) => next());
    return worker;
  }

  /** Starts and stops a worker: its startup declares the topology, and an empty queue has nothing to take. */
  async declare(): Promise<void> {
    const worker = this.#newWorker({ handle: () => {}, acked: () => {} });
    await worker.start();
    await worker.stop();
  }

  async startConsumer(hooks: ConsumerHooks): Promise<void> {
    const worker = this.#newWorker(hooks);
    await worker.start();
    this.#worker = worker;
  }

  async startPublisher(): Promise<void> {
    const client = new WarrenClient({ config: this.#config, ...(this.#metrics ? { metrics: this.#metrics } : {}) });
    await client.start();
    this.#client = client;
  }

  publish(payload: BenchPayload): Promise<string> {
    const client = this.#client;
    if (!client) return Promise.reject(new Error('publisher not started'));
    return client.publish(JOB_TYPE, payload);
  }

  async stopPublisher(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.close();
  }

  async stopConsumer(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.stop();
  }

  async close(): Promise<void> {
    await this.stopPublisher();
    await this.stopConsumer();
  }

  async destroy(): Promise<void> {
    await deleteWarrenTopology(this.#target);
  }
}

function warrenConfig(target: Pick<TrialTarget, 'id' | 'amqpUrl' | 'redisUrl'>): WarrenConfig {
  return loadConfig({
    overrides: {
      namespace: target.id,
      amqpUrl: target.amqpUrl,
      redisUrl: target.redisUrl,
      logLevel: 'silent',
      queueType: 'quorum',
    },
  });
}

/** Deletes every queue and exchange warren declares for the bench job in a trial's namespace. */
export async function deleteWarrenTopology(
  target: Pick<TrialTarget, 'id' | 'amqpUrl' | 'redisUrl' | 'retryDelayMs'>,
): Promise<void> {
  const config = warrenConfig(target);
  const tiersMs = [
    ...new Set([...config.retryTiersMs, ...(target.retryDelayMs === undefined ? [] : [target.retryDelayMs])]),
  ];
  const plan = planTopology(config, [{ jobType: JOB_TYPE, tiersMs }]);
  // The first node of a cluster's list will do: the topology is the cluster's.
  const connection = await amqp.connect(brokerUrls(target.amqpUrl)[0] ?? target.amqpUrl);
  try {
    const channel = await connection.createChannel();
    for (const queue of plan.queues) await channel.deleteQueue(queue.name);
    for (const exchange of plan.exchanges) await channel.deleteExchange(exchange.name);
    await channel.close();
  } finally {
    await connection.close();
  }
}
