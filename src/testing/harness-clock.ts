import type { Timers } from '../consumer/run-with-timeout.js';

/** The time and the timers a test harness runs on. */
export interface HarnessClock extends Timers {
  readonly kind: 'virtual' | 'real';
  /** Milliseconds since the epoch. */
  now(): number;
  /** Timers set and not yet run or cleared. */
  readonly pending: number;
  /** Clears every timer (the harness is closing). */
  clearAll(): void;
}

interface VirtualTimer {
  readonly dueMs: number;
  /** Timers due at the same time run in the order they were set. */
  readonly seq: number;
  readonly callback: () => void;
}

/**
 * Time that moves only when told. Its timers run when the clock is stepped to them, earliest first (in the order
 * they were set among those due at the same time), never on their own.
 */
export class VirtualClock implements HarnessClock {
  readonly kind = 'virtual';
  #nowMs: number;
  #seq = 0;
  readonly #timers = new Set<VirtualTimer>();

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  get pending(): number {
    return this.#timers.size;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer: VirtualTimer = { dueMs: this.#nowMs + Math.max(0, ms), seq: this.#seq++, callback };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as VirtualTimer);
  }

  clearAll(): void {
    this.#timers.clear();
  }

  /** When the earliest timer is due, if any is set. */
  nextDue(): number | undefined {
    return this.#earliest()?.dueMs;
  }

  /** Moves the clock to the earliest timer (never back) and runs it; false when no timer is due by `untilMs`. */
  step(untilMs: number): boolean {
    const timer = this.#earliest();
    if (timer === undefined || timer.dueMs > untilMs) return false;
    this.#timers.delete(timer);
    this.#nowMs = Math.max(this.#nowMs, timer.dueMs);
    timer.callback();
    return true;
  }

  /** Moves the clock forward to `ms` (never back) without running anything. */
  moveTo(ms: number): void {
    this.#nowMs = Math.max(this.#nowMs, ms);
  }

  #earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const timer of this.#timers) {
      if (best === undefined || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.seq < best.seq))
        best = timer;
    }
    return best;
  }
}

/** The process's own time and timers, counted so the harness knows what is still to come. */
export class RealClock implements HarnessClock {
  readonly kind = 'real';
  readonly #timers = new Set<NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  get pending(): number {
    return this.#timers.size;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      callback();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout);
    this.#timers.delete(handle as NodeJS.Timeout);
  }

  clearAll(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
