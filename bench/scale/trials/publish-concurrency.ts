import { jobQueue } from '../../../src/topology/names.js';
import { MB, cpuMicros } from '../../lib/measure.js';
import { JOB_TYPE, makePayload } from '../../lib/payload.js';
import { createSystem } from '../../systems/create-system.js';
import type { TrialTarget } from '../../systems/system.js';
import { MemorySampler } from '../memory.js';
import type { PublishResult } from '../scale-types.js';
import { hrtimeWindow, queueDepth } from './trial-util.js';

/** What a publish-concurrency trial is given. */
export interface PublishOptions {
  readonly system: 'warren' | 'amqplib';
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly jobs: number;
  readonly concurrency: number;
  /** warren only: its `publishBufferSize` (default: warren's own, 1,000). */
  readonly publishBufferSize?: number | undefined;
}

/**
 * `jobs` publishes from one process through `concurrency` lanes, each awaiting its publish before the next (so that
 * many promises are outstanding at once), into a declared queue with no consumer: warren's `WarrenClient.publish`
 * or a raw confirm channel (bench/systems). A rejection is counted by its code and the lane goes on: every promise
 * must settle, and the queue must hold one message per resolved publish.
 */
export async function publishConcurrency(options: PublishOptions): Promise<PublishResult> {
  const target: TrialTarget = {
    id: options.namespace,
    prefetch: 1,
    retryDelayMs: undefined,
    amqpUrl: options.amqpUrl,
    redisUrl: options.redisUrl,
    metrics: false,
    middleware: 0,
  };
  if (options.publishBufferSize !== undefined) {
    // The bench's warren config is loadConfig() with overrides; the environment sets the rest, as it would for an
    // application.
    process.env['WARREN_PUBLISH_BUFFER_SIZE'] = String(options.publishBufferSize);
  }
  const rssStart = process.memoryUsage.rss();
  const system = await createSystem(options.system, target);
  const memory = new MemorySampler();
  try {
    await system.declare();
    await system.startPublisher();
    const { jobs, concurrency } = options;
    let next = 0;
    let resolved = 0;
    let rejected = 0;
    let outstanding = 0;
    let maxOutstanding = 0;
    let firstError: string | undefined;
    const errors: Record<string, number> = {};
    const lane = async (): Promise<void> => {
      while (next < jobs) {
        const seq = next;
        next += 1;
        outstanding += 1;
        if (outstanding > maxOutstanding) maxOutstanding = outstanding;
        try {
          await system.publish(makePayload(seq));
          resolved += 1;
        } catch (error) {
          rejected += 1;
          const code = String((error as { code?: unknown }).code ?? (error as Error).name ?? 'unknown');
          errors[code] = (errors[code] ?? 0) + 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        } finally {
          outstanding -= 1;
        }
      }
    };
    memory.start(50);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs) }, lane));
    const t1 = performance.now();
    const cpu = cpuMicros(cpu0, process.cpuUsage());
    memory.stop();
    await system.stopPublisher();
    const seconds = (t1 - t0) / 1000;
    return {
      ok: true,
      mode: 'publish',
      system: options.system,
      ...(options.publishBufferSize === undefined ? {} : { publishBufferSize: options.publishBufferSize }),
      concurrency,
      jobs,
      seconds,
      jobsPerSec: resolved / seconds,
      cpuUsPerJob: cpu / jobs,
      resolved,
      rejected,
      errors,
      ...(firstError === undefined ? {} : { firstError }),
      queued: await queueDepth(options.amqpUrl, jobQueue(options.namespace, JOB_TYPE)),
      maxOutstanding,
      rssStartMb: rssStart / MB,
      rssPeakMb: memory.rssPeakBytes / MB,
      heapUsedPeakMb: memory.heapUsedPeakBytes / MB,
      heapTotalPeakMb: memory.heapTotalPeakBytes / MB,
      windowUs: hrtimeWindow(t0, t1),
    };
  } finally {
    memory.stop();
    await system.close().catch(() => {});
    await system.destroy().catch(() => {});
  }
}
