import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { Countdown, MB, publishPaced } from '../../lib/measure.js';
import { nowMs, type BenchPayload } from '../../lib/payload.js';
import { createSystem } from '../../systems/create-system.js';
import type { TrialTarget } from '../../systems/system.js';
import type { GcReading, SoakSample, SoakTrialResult, Spread } from '../scale-types.js';

/** What a soak trial is given. */
export interface SoakOptions {
  readonly system: 'warren' | 'amqplib';
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  /** Jobs per second, and for how long. */
  readonly rate: number;
  readonly seconds: number;
  /** Seconds between two samples of memory and resources. */
  readonly sampleSeconds: number;
  readonly prefetch: number;
  readonly timeoutMs: number;
}

/** The paced warm-up before the measured load (JIT, pools, connections at their working size). */
const WARMUP_SECONDS = 1;

/**
 * Latencies in a fixed set of buckets, each 1% wider than the one before from 10 µs: a soak of a million jobs
 * records them without growing (an array of every latency would itself be a steadily growing allocation).
 */
class LatencyHistogram {
  static readonly #BASE_MS = 0.01;
  static readonly #GROWTH = Math.log(1.01);
  readonly #buckets = new Float64Array(1_600);
  count = 0;
  maxMs = 0;
  minMs = Number.POSITIVE_INFINITY;

  add(ms: number): void {
    const i =
      ms <= LatencyHistogram.#BASE_MS
        ? 0
        : Math.ceil(Math.log(ms / LatencyHistogram.#BASE_MS) / LatencyHistogram.#GROWTH);
    const bucket = Math.min(i, this.#buckets.length - 1);
    this.#buckets[bucket] = (this.#buckets[bucket] as number) + 1;
    this.count += 1;
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms < this.minMs) this.minMs = ms;
  }

  /** The upper edge of the bucket holding quantile `q` (1% precision). */
  quantile(q: number): number {
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i += 1) {
      seen += this.#buckets[i] as number;
      if (seen >= rank && seen > 0)
        return Math.min(this.maxMs, LatencyHistogram.#BASE_MS * Math.exp(i * LatencyHistogram.#GROWTH));
    }
    return Number.NaN;
  }

  spread(): Spread {
    return {
      count: this.count,
      p50Ms: this.quantile(0.5),
      p99Ms: this.quantile(0.99),
      maxMs: this.count === 0 ? Number.NaN : this.maxMs,
      minMs: this.count === 0 ? Number.NaN : this.minMs,
    };
  }
}

/** Resident anonymous and file-backed pages (/proc/self/status), in MB; NaN where the file is not there. */
function residentParts(): { anonMb: number; fileMb: number } {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return { anonMb: Number.NaN, fileMb: Number.NaN };
  }
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  };
  return { anonMb: kb('RssAnon'), fileMb: kb('RssFile') };
}

/** `process.getActiveResourcesInfo()` counted by type (`Timeout`, `TCPSocketWrap`, …). */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

function takeSample(atS: number, acked: number): SoakSample {
  const usage = process.memoryUsage();
  const { anonMb, fileMb } = residentParts();
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    atS,
    rssMb: usage.rss / MB,
    heapUsedMb: usage.heapUsed / MB,
    heapTotalMb: usage.heapTotal / MB,
    externalMb: usage.external / MB,
    arrayBuffersMb: usage.arrayBuffers / MB,
    rssAnonMb: anonMb,
    rssFileMb: fileMb,
    newSpaceMb: (newSpace?.space_size ?? Number.NaN) / MB,
    acked,
    resources: activeResources(),
  };
}

/** A full collection (`node --expose-gc`), then the memory figures. */
function afterFullGc(): GcReading {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the soak needs node --expose-gc (a heap read after a full collection)');
  gc();
  const usage = process.memoryUsage();
  return {
    rssMb: usage.rss / MB,
    heapUsedMb: usage.heapUsed / MB,
    heapTotalMb: usage.heapTotal / MB,
    externalMb: usage.external / MB,
    arrayBuffersMb: usage.arrayBuffers / MB,
  };
}

/**
 * A consumer and a publisher in one process at a steady `rate` for `seconds` (the main bench's soak, longer):
 * warren's Worker and WarrenClient, or the raw amqplib pair of bench/systems, publish → queue → handler → ack.
 * Every `sampleSeconds` it records the process's memory, by part, and its active resources by type; the heap is
 * read after a full collection when the load starts and once every job is acknowledged.
 */
export async function soak(options: SoakOptions): Promise<SoakTrialResult> {
  const target: TrialTarget = {
    id: options.namespace,
    prefetch: options.prefetch,
    retryDelayMs: undefined,
    amqpUrl: options.amqpUrl,
    redisUrl: options.redisUrl,
    metrics: false,
    middleware: 0,
  };
  const warmCount = Math.round(options.rate * WARMUP_SECONDS);
  const measuredCount = Math.round(options.rate * options.seconds);
  const latency = new LatencyHistogram();
  const handle = (payload: BenchPayload): void => {
    if (!payload.warm) latency.add(nowMs() - payload.sentAt);
  };
  const acked = new Countdown(warmCount + measuredCount);
  const system = await createSystem(options.system, target);
  const samples: SoakSample[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await system.startConsumer({ handle, acked: acked.tick });
    await system.startPublisher();
    const maxOutstanding = Math.max(1_000, options.rate);
    samples.push(takeSample(-WARMUP_SECONDS, acked.count));
    await publishPaced(system, {
      rate: options.rate,
      seconds: WARMUP_SECONDS,
      warm: true,
      firstSeq: 0,
      maxOutstanding,
    });
    const gcStart = afterFullGc();
    const loadStart = performance.now();
    const at = (): number => (performance.now() - loadStart) / 1000;
    samples.push(takeSample(0, acked.count));
    timer = setInterval(() => samples.push(takeSample(at(), acked.count)), options.sampleSeconds * 1000);
    const paced = await publishPaced(system, {
      rate: options.rate,
      seconds: options.seconds,
      warm: false,
      firstSeq: warmCount,
      maxOutstanding,
    });
    await acked.wait(options.timeoutMs, 'acked');
    clearInterval(timer);
    samples.push(takeSample(at(), acked.count));
    const gcEnd = afterFullGc();
    return {
      ok: true,
      mode: 'soak',
      system: options.system,
      rate: options.rate,
      seconds: options.seconds,
      achievedRate: paced.achievedRate,
      jobs: measuredCount,
      acked: acked.count - warmCount,
      latency: latency.spread(),
      samples,
      gcStart,
      gcEnd,
    };
  } finally {
    clearInterval(timer);
    await system.close().catch(() => {});
    await system.destroy().catch(() => {});
  }
}
