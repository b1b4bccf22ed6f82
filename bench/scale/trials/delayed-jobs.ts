import amqp, { type ChannelModel } from 'amqplib';
import { Registry, WarrenClient, Worker, createLogger, defineJob, loadConfig } from '../../../src/index.js';
import { DELAY_LEVELS, delayLevel, jobQueue as jobQueueName } from '../../../src/topology/names.js';
import { sleep } from '../../lib/measure.js';
import { makePayload, type BenchPayload } from '../../lib/payload.js';
import { quantileSorted } from '../../lib/stats.js';
import { delayLevelStats, nodeMemory } from '../broker-memory.js';
import type { Endpoints } from '../namespace.js';
import type { BrokerMemory, DelayedJobsResult, DepthSample, Spread } from '../scale-types.js';

/** The job type of the delayed jobs. */
export const DELAYED_JOB_TYPE = 'bench.delayed';

/** What a delayed-jobs trial is given. */
export interface DelayedJobsOptions {
  readonly endpoints: Endpoints;
  readonly namespace: string;
  readonly jobs: number;
  readonly minDelaySeconds: number;
  readonly maxDelaySeconds: number;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly timeoutMs: number;
}

/** The bench payload with the due time the publisher was asked for (`runAt`), in epoch milliseconds. */
interface DelayedPayload extends BenchPayload {
  /** `Date.now()` when the job was made, just before its publish; the due time is this plus its delay. */
  readonly askedAt: number;
  readonly dueAt: number;
  /** The warm-up job that declares the cascade; not counted. */
  readonly probe?: true;
}

/** How long after the last due time the trial waits for jobs still missing, at least. */
const GRACE_MS = 30_000;
/** After the grace, it goes on waiting while jobs still arrive: until none came for this long. */
const STALL_MS = 15_000;
/** Seconds between two readings of the queues' depths. */
const DEPTH_EVERY_MS = 1_000;

/**
 * The depths of the job queue and the 28 levels, read live (passive declares on a connection of its own) every
 * second from the first publish on: where the jobs wait, and where they pile up.
 */
class DepthWatch {
  readonly samples: DepthSample[] = [];
  readonly #namespace: string;
  readonly #model: ChannelModel;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  private constructor(model: ChannelModel, namespace: string) {
    this.#model = model;
    this.#namespace = namespace;
  }

  static async open(amqpUrl: string, namespace: string): Promise<DepthWatch> {
    const model = await amqp.connect(amqpUrl.split(',')[0] ?? amqpUrl);
    model.on('error', () => {});
    return new DepthWatch(model, namespace);
  }

  /** The depths now: the levels (index = level) and the job queue. */
  async read(): Promise<{ levels: number[]; jobQueue: number }> {
    const channel = await this.#model.createChannel();
    try {
      const levels: number[] = [];
      for (let level = 0; level < DELAY_LEVELS; level += 1)
        levels.push((await channel.checkQueue(delayLevel(this.#namespace, level))).messageCount);
      const jobQueue = (await channel.checkQueue(jobQueueName(this.#namespace, DELAYED_JOB_TYPE))).messageCount;
      return { levels, jobQueue };
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** Reads every second, with the time since `fromMs` (performance.now()) and what `delivered()` says. */
  start(fromMs: number, delivered: () => number): void {
    this.#timer = setInterval(() => {
      if (this.#reading) return;
      this.#reading = true;
      const atS = (performance.now() - fromMs) / 1000;
      this.read().then(
        ({ levels, jobQueue }) => {
          this.samples.push({ atS, levels, jobQueue, delivered: delivered() });
          this.#reading = false;
        },
        () => {
          this.#reading = false;
        },
      );
    }, DEPTH_EVERY_MS);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#model.close().catch(() => {});
  }
}

/**
 * The delays, spread evenly over [min, max) whatever the publishing order: the fractional parts of n·φ (a
 * low-discrepancy sequence), so that the first thousand jobs cover the range as the whole set does.
 */
function delayMs(n: number, minSeconds: number, maxSeconds: number): number {
  const u = (n * 0.6180339887498949) % 1;
  return (minSeconds + u * (maxSeconds - minSeconds)) * 1000;
}

/** The whole seconds the cascade holds a message, from the routing key the levels kept (28 bit words, then the type). */
function heldSeconds(headers: Readonly<Record<string, unknown>>): number | undefined {
  const deaths = headers['x-death'];
  if (!Array.isArray(deaths)) return undefined;
  const keys = (deaths[0] as { 'routing-keys'?: unknown } | undefined)?.['routing-keys'];
  const key = Array.isArray(keys) ? keys[0] : undefined;
  if (typeof key !== 'string') return undefined;
  const bits = key.split('.', DELAY_LEVELS);
  let seconds = 0;
  for (const bit of bits) seconds = seconds * 2 + (bit === '1' ? 1 : 0);
  return seconds;
}

function popcount(value: number): number {
  let count = 0;
  for (let v = value; v > 0; v = Math.floor(v / 2)) count += v % 2;
  return count;
}

function spread(values: Float64Array): Spread {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50Ms: quantileSorted(sorted, 0.5),
    p99Ms: quantileSorted(sorted, 0.99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    minMs: sorted.length > 0 ? (sorted[0] as number) : Number.NaN,
  };
}

/**
 * `jobs` delayed jobs through warren's public API: one Worker consuming the job type (prefetch `prefetch`) and one
 * WarrenClient publishing `{ runAt }` with `concurrency` publishes awaited at once, each due between
 * `minDelaySeconds` and `maxDelaySeconds` after its publish (the due time goes in the payload). The broker's memory
 * is read with the cascade declared and empty, and again once every job is published (all pending); then every
 * job is counted as it arrives: its lateness, and whether it came once.
 */
export async function delayedJobs(options: DelayedJobsOptions): Promise<DelayedJobsResult> {
  const { endpoints, namespace, jobs } = options;
  const startedAt = Date.now();
  const config = loadConfig({
    overrides: {
      namespace,
      amqpUrl: endpoints.amqpUrl,
      redisUrl: endpoints.redisUrl,
      logLevel: 'silent',
      queueType: 'quorum',
    },
  });
  const counts = new Uint8Array(jobs);
  const lateness = new Float64Array(jobs);
  const transit = new Float64Array(jobs);
  const levels = new Uint8Array(jobs);
  let delivered = 0;
  let duplicates = 0;
  let early = 0;
  let lastDeliveryAt = 0;
  let probed: () => void = () => {};
  const probe = new Promise<void>((resolve) => (probed = resolve));
  let allDelivered: () => void = () => {};
  const everyJob = new Promise<void>((resolve) => (allDelivered = resolve));
  const job = defineJob(
    DELAYED_JOB_TYPE,
    (payload: DelayedPayload, ctx) => {
      // Wall clock: the due time is a wall-clock time (runAt), and the broker's TTLs run on the same machine's.
      const receivedAt = Date.now();
      if (payload.probe) {
        probed();
        return;
      }
      const n = payload.seq;
      counts[n] = Math.min(255, (counts[n] ?? 0) + 1);
      if (counts[n] !== 1) {
        duplicates += 1;
        return;
      }
      delivered += 1;
      lastDeliveryAt = receivedAt;
      const late = receivedAt - payload.dueAt;
      lateness[n] = late;
      if (late < 0) early += 1;
      const held = heldSeconds(ctx.headers);
      transit[n] = held === undefined ? Number.NaN : receivedAt - payload.askedAt - held * 1000;
      levels[n] = held === undefined ? 0 : popcount(held);
      if (delivered === jobs) allDelivered();
    },
    { concurrency: options.prefetch },
  );
  const worker = new Worker({ config, registry: new Registry().register(job), logger: createLogger('silent') });
  const client = new WarrenClient({ config });
  let watch: DepthWatch | undefined;
  try {
    await worker.start();
    await client.start();
    // Declares the cascade (28 quorum queues) and proves the path before anything is measured.
    const now = Date.now();
    await client.publish(
      DELAYED_JOB_TYPE,
      { ...makePayload(-1), askedAt: now, dueAt: now, probe: true },
      { delayMs: 0 },
    );
    const probeTimeout = sleep(30_000).then(() => Promise.reject(new Error('the warm-up job never came')));
    probeTimeout.catch(() => {});
    await Promise.race([probe, probeTimeout]);
    const memoryBefore = await brokerMemory(endpoints, namespace, 0);
    watch = await DepthWatch.open(endpoints.amqpUrl, namespace);

    let next = 0;
    let resolved = 0;
    let rejected = 0;
    let firstError: string | undefined;
    let lastDueAt = 0;
    const lane = async (): Promise<void> => {
      while (next < jobs) {
        const n = next;
        next += 1;
        const askedAt = Date.now();
        const dueAt = askedAt + Math.round(delayMs(n, options.minDelaySeconds, options.maxDelaySeconds));
        if (dueAt > lastDueAt) lastDueAt = dueAt;
        try {
          await client.publish(
            DELAYED_JOB_TYPE,
            { ...makePayload(n), askedAt, dueAt },
            { runAt: new Date(dueAt), messageId: `delayed-${n}` },
          );
          resolved += 1;
        } catch (error) {
          rejected += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    const t0 = performance.now();
    watch.start(t0, () => delivered);
    await Promise.all(Array.from({ length: Math.min(options.concurrency, jobs) }, lane));
    const publishSeconds = (performance.now() - t0) / 1000;
    const deliveredAtPublished = delivered;
    const pending = await watch.read();
    const memoryPending = await brokerMemory(endpoints, namespace, resolved - delivered);
    const deliveredAtReading = delivered;

    // Every job, or the last due time + the grace and then no arrival for a while, or the trial's time is up.
    const hardDeadline = startedAt + options.timeoutMs - 15_000;
    for (;;) {
      const now = Date.now();
      if (delivered === jobs || now > hardDeadline) break;
      if (now > lastDueAt + GRACE_MS && now - Math.max(lastDeliveryAt, lastDueAt) > STALL_MS) break;
      await Promise.race([everyJob, sleep(1_000)]);
    }
    // A duplicate comes after the first copy: give one a moment.
    await sleep(2_000);
    await client.close();
    await worker.stop();
    await watch.close();
    const got = Float64Array.from({ length: jobs }, (_, n) => n).filter((n) => counts[n] !== 0);
    const pick = (values: Float64Array): Float64Array =>
      Float64Array.from(got, (n) => values[n] as number).filter((v) => !Number.isNaN(v));
    const byLevels: Array<{ levels: number } & Spread> = [];
    for (let k = 1; k <= DELAY_LEVELS; k += 1) {
      const of = Float64Array.from(got).filter((n) => levels[n] === k);
      if (of.length > 0) byLevels.push({ levels: k, ...spread(Float64Array.from(of, (n) => transit[n] as number)) });
    }
    return {
      ok: true,
      mode: 'delayed-jobs',
      jobs,
      minDelaySeconds: options.minDelaySeconds,
      maxDelaySeconds: options.maxDelaySeconds,
      concurrency: options.concurrency,
      prefetch: options.prefetch,
      publishSeconds,
      publishRate: resolved / publishSeconds,
      resolved,
      rejected,
      ...(firstError === undefined ? {} : { firstError }),
      deliveredAtPublished,
      deliveredAtReading,
      memoryBefore,
      memoryPending,
      levelMessages: pending.levels.reduce((sum, m) => sum + m, 0),
      messagesByLevel: pending.levels,
      depths: watch.samples,
      delivered,
      lost: jobs - got.length,
      duplicates,
      lateness: spread(pick(lateness)),
      early,
      transit: spread(pick(transit)),
      transitByLevels: byLevels,
      leftInQueues: await leftInQueues(endpoints.amqpUrl, namespace),
      drainSeconds: (lastDeliveryAt - lastDueAt) / 1000,
    };
  } finally {
    await client.close().catch(() => {});
    await worker.stop().catch(() => {});
    await watch?.close();
  }
}

/**
 * The broker's memory now: the node's breakdown (live) and the delay levels' queue processes (statistics, sampled
 * every 5 s: waits, up to 15 s, for a sample that holds `pending` messages in the levels, so that it was taken
 * after the publishing).
 */
async function brokerMemory(endpoints: Endpoints, namespace: string, pending: number): Promise<BrokerMemory> {
  const node = await nodeMemory(endpoints).catch(() => ({
    erlangBytes: Number.NaN,
    rssBytes: Number.NaN,
    quorumBytes: Number.NaN,
  }));
  const deadline = performance.now() + 15_000;
  let levelsBytes = Number.NaN;
  for (;;) {
    // No management API (a node without the plugin): no figure, rather than no trial.
    const stats = await delayLevelStats(endpoints, namespace).catch(() => undefined);
    if (stats === undefined) break;
    const messages = stats.reduce((sum, level) => sum + level.messages, 0);
    if (stats.length === DELAY_LEVELS && (pending === 0 ? messages === 0 : messages >= pending * 0.99)) {
      levelsBytes = stats.reduce((sum, level) => sum + level.memory, 0);
      break;
    }
    if (performance.now() > deadline) break;
    await sleep(500);
  }
  return { erlangBytes: node.erlangBytes, rssBytes: node.rssBytes, quorumBytes: node.quorumBytes, levelsBytes };
}

/** Messages left in the job queue and the 28 levels (passive declares). */
async function leftInQueues(amqpUrl: string, namespace: string): Promise<number> {
  const connection = await amqp.connect(amqpUrl.split(',')[0] ?? amqpUrl);
  try {
    const channel = await connection.createChannel();
    let left = (await channel.checkQueue(jobQueueName(namespace, DELAYED_JOB_TYPE))).messageCount;
    for (let level = 0; level < DELAY_LEVELS; level += 1)
      left += (await channel.checkQueue(delayLevel(namespace, level))).messageCount;
    await channel.close();
    return left;
  } finally {
    await connection.close();
  }
}
