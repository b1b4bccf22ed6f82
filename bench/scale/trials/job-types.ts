import amqp from 'amqplib';
import { Registry, Worker, createLogger, defineJob, loadConfig, type WarrenConfig } from '../../../src/index.js';
import { deleteTopology, namespaceExchanges, namespaceQueues } from '../../../src/testing/clean-test-namespace.js';
import { jobsExchange } from '../../../src/topology/names.js';
import { Countdown, MB, cpuMicros, sleep } from '../../lib/measure.js';
import { makePayload } from '../../lib/payload.js';
import { MemorySampler, restingMemory } from '../memory.js';
import type { JobTypesResult } from '../scale-types.js';
import { confirmedBurst } from './confirmed-burst.js';
import { hrtimeWindow } from './trial-util.js';

/** What a job-types trial is given. */
export interface JobTypesOptions {
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly types: number;
  readonly jobs: number;
  readonly prefetch: number;
  readonly idleSeconds: number;
  readonly timeoutMs: number;
}

/** `bench.type.00`, `bench.type.01`, … */
export function jobTypeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `bench.type.${String(i).padStart(2, '0')}`);
}

/**
 * One Worker with `types` job types (a consumer and a channel each, prefetch `prefetch` each), through warren's
 * public API: start it on an empty namespace (it declares the topology: the cold start) and read its RSS at rest;
 * stop it; pre-fill `jobs` jobs spread evenly over the types with a raw confirm channel (closed before measuring);
 * start a new Worker on that backlog (the warm start). Its handlers hold every job until `start()` has resolved:
 * its consumers start one after the other, and a backlog consumed while the later ones are still subscribing
 * would measure the start, not the consuming. Measured from that release to the last success, when every type
 * consumes at once.
 */
export async function jobTypes(options: JobTypesOptions): Promise<JobTypesResult> {
  const { namespace, types, jobs, prefetch } = options;
  const config = loadConfig({
    overrides: {
      namespace,
      amqpUrl: options.amqpUrl,
      redisUrl: options.redisUrl,
      logLevel: 'silent',
      queueType: 'quorum',
    },
  });
  const names = jobTypeNames(types);
  const perType = new Map(names.map((name) => [name, 0]));
  const done = new Countdown(jobs);
  let halfway: number[] | undefined;
  const onSuccess = (jobType: string): void => {
    perType.set(jobType, (perType.get(jobType) ?? 0) + 1);
    done.tick();
    if (halfway === undefined && done.count >= jobs / 2) {
      halfway = names.map((name) => (perType.get(name) ?? 0) / (jobs / types));
    }
  };
  let release: () => void = () => {};
  let released = false;
  const gate = new Promise<void>((resolve) => {
    release = () => {
      released = true;
      resolve();
    };
  });
  // Synchronous once released: the no-op handler of the other scenarios.
  const handle = (): Promise<void> | undefined => (released ? undefined : gate);
  const worker = (measured: boolean): Worker => {
    const registry = new Registry();
    for (const name of names) registry.register(defineJob(name, handle, { concurrency: prefetch }));
    return new Worker({
      config,
      registry,
      logger: createLogger(config.logLevel),
      onOutcome: (outcome, jobType) => {
        if (measured && outcome === 'success') onSuccess(jobType);
      },
    });
  };
  const memory = new MemorySampler();
  let running: Worker | undefined;
  try {
    // Cold: nothing declared yet.
    const cold = worker(false);
    running = cold;
    let t0 = performance.now();
    await cold.start();
    const coldStartMs = performance.now() - t0;
    await sleep(options.idleSeconds * 1000);
    const idle = await restingMemory();
    await cold.stop();
    running = undefined;

    await prefill(config, names, jobs);

    // Warm: the topology is there and the backlog waits.
    const warm = worker(true);
    running = warm;
    memory.start(100);
    t0 = performance.now();
    await warm.start();
    const warmStartMs = performance.now() - t0;
    const cpu0 = process.cpuUsage();
    const firstAt = performance.now();
    release();
    await done.wait(options.timeoutMs, 'succeeded');
    memory.stop();
    const seconds = (done.doneAt - firstAt) / 1000;
    await warm.stop();
    running = undefined;
    const shares = halfway ?? [];
    return {
      ok: true,
      mode: 'job-types',
      types,
      jobs,
      prefetch,
      coldStartMs,
      warmStartMs,
      rssIdleMb: idle.rssBytes / MB,
      heapUsedIdleMb: idle.heapUsedBytes / MB,
      rssPeakMb: memory.rssPeakBytes / MB,
      heapUsedPeakMb: memory.heapUsedPeakBytes / MB,
      seconds,
      jobsPerSec: jobs / seconds,
      cpuUsPerJob: cpuMicros(cpu0, done.cpuAtDone as NodeJS.CpuUsage) / jobs,
      halfwayShareMin: Math.min(...shares),
      halfwayShareMax: Math.max(...shares),
      windowUs: hrtimeWindow(firstAt, done.doneAt),
    };
  } finally {
    memory.stop();
    await running?.stop().catch(() => {});
    await deleteTopology(options.amqpUrl, namespaceQueues(namespace, names), namespaceExchanges(namespace));
  }
}

/** `jobs` jobs round-robin over the job types, through the jobs exchange, on a connection of its own. */
async function prefill(config: WarrenConfig, names: readonly string[], jobs: number): Promise<void> {
  const connection = await amqp.connect(config.amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    const exchange = jobsExchange(config.namespace);
    const timestamp = Math.floor(Date.now() / 1000);
    await confirmedBurst(channel, jobs, (n) => {
      const jobType = names[n % names.length] as string;
      return {
        exchange,
        routingKey: jobType,
        content: Buffer.from(JSON.stringify(makePayload(n)), 'utf8'),
        properties: {
          messageId: `job-${n}`,
          type: jobType,
          contentType: 'application/json',
          timestamp,
          persistent: true,
          mandatory: true,
        },
      };
    });
    await channel.close();
  } finally {
    await connection.close();
  }
}
