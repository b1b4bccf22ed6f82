import type { BenchSystem } from '../systems/system.js';
import { makePayload, type BenchPayload } from './payload.js';

/** Counts settles up to a target; records the time and CPU usage of the last one. */
export class Countdown {
  readonly target: number;
  readonly done: Promise<void>;
  count = 0;
  /** `performance.now()` of the settle that reached the target. */
  doneAt = 0;
  cpuAtDone: NodeJS.CpuUsage | undefined;
  #resolve: () => void = () => {};

  constructor(target: number) {
    this.target = target;
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** One more settle (bound: pass it around as a callback). */
  readonly tick = (): void => {
    this.count += 1;
    if (this.count === this.target) {
      this.doneAt = performance.now();
      this.cpuAtDone = process.cpuUsage();
      this.#resolve();
    }
  };

  /** Resolves when the target is reached; rejects after `timeoutMs` saying how far it got. */
  async wait(timeoutMs: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: ${this.count} of ${this.target} after ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.done, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** CPU time (user + system) between two `process.cpuUsage()` readings, in microseconds. */
export function cpuMicros(from: NodeJS.CpuUsage, to: NodeJS.CpuUsage): number {
  return to.user - from.user + (to.system - from.system);
}

/** Publishes `count` jobs through `window` concurrent lanes, each awaiting its publish before the next. */
export async function publishWindowed(
  system: BenchSystem,
  count: number,
  window: number,
  payload: (seq: number) => BenchPayload = makePayload,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const seq = next;
      next += 1;
      await system.publish(payload(seq));
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

/** What a paced run achieved. */
export interface PacedResult {
  readonly sent: number;
  readonly seconds: number;
  readonly achievedRate: number;
  /** Most publishes awaiting their confirm at once. */
  readonly maxOutstanding: number;
}

/**
 * Publishes at a fixed rate for `seconds` (a 1 ms timer sends whatever is due, so arrivals are smooth at
 * thousands per second), without waiting for confirms but never more than `maxOutstanding` unconfirmed.
 */
export function publishPaced(
  system: BenchSystem,
  options: { rate: number; seconds: number; warm: boolean; firstSeq: number; maxOutstanding: number },
): Promise<PacedResult> {
  const total = Math.round(options.rate * options.seconds);
  const start = performance.now();
  let sent = 0;
  let outstanding = 0;
  let maxOutstanding = 0;
  let failure: unknown;
  const settled = (): void => {
    outstanding -= 1;
  };
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (failure !== undefined) {
        reject(failure instanceof Error ? failure : new Error(String(failure)));
        return;
      }
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * options.rate) + 1);
      while (sent < due && outstanding < options.maxOutstanding) {
        outstanding += 1;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        const seq = options.firstSeq + sent;
        sent += 1;
        system.publish(makePayload(seq, options.warm)).then(settled, (error: unknown) => {
          failure ??= error;
          settled();
        });
      }
      if (sent >= total) {
        const seconds = (performance.now() - start) / 1000;
        resolve({ sent, seconds, achievedRate: sent / seconds, maxOutstanding });
        return;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
}

/** Samples the resident set size on a timer; keeps the peak and, optionally, every sample. */
export class RssSampler {
  peakBytes = 0;
  /** Peaks of the V8 heap (total) and of memory outside it (`external`, Buffers among it), for diagnosis. */
  peakHeapTotalBytes = 0;
  peakExternalBytes = 0;
  readonly samples: Array<{ atMs: number; bytes: number }> = [];
  #timer: NodeJS.Timeout | undefined;
  #keep = false;

  start(everyMs: number, keep = false): void {
    this.#keep = keep;
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
  }

  sample(): number {
    const usage = process.memoryUsage();
    const bytes = usage.rss;
    if (usage.heapTotal > this.peakHeapTotalBytes) this.peakHeapTotalBytes = usage.heapTotal;
    if (usage.external > this.peakExternalBytes) this.peakExternalBytes = usage.external;
    if (bytes > this.peakBytes) this.peakBytes = bytes;
    if (this.#keep) this.samples.push({ atMs: performance.now(), bytes });
    return bytes;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export const MB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
