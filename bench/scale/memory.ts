/** Memory of the trial process, sampled on a timer: the peaks of RSS, the V8 heap in use and the heap's size. */
export class MemorySampler {
  rssPeakBytes = 0;
  heapUsedPeakBytes = 0;
  heapTotalPeakBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  start(everyMs: number): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
  }

  sample(): void {
    const usage = process.memoryUsage();
    if (usage.rss > this.rssPeakBytes) this.rssPeakBytes = usage.rss;
    if (usage.heapUsed > this.heapUsedPeakBytes) this.heapUsedPeakBytes = usage.heapUsed;
    if (usage.heapTotal > this.heapTotalPeakBytes) this.heapTotalPeakBytes = usage.heapTotal;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }
}

/** The median of `count` RSS and heap-in-use readings `everyMs` apart: a process at rest. */
export async function restingMemory(count = 5, everyMs = 100): Promise<{ rssBytes: number; heapUsedBytes: number }> {
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const usage = process.memoryUsage();
    rss.push(usage.rss);
    heap.push(usage.heapUsed);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const mid = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  return { rssBytes: mid(rss), heapUsedBytes: mid(heap) };
}
