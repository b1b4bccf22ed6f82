import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry as PromRegistry } from 'prom-client';
import {
  Registry,
  WarrenMetrics,
  Worker,
  createLogger,
  defineSchedule,
  loadConfig,
  type FireOutcome,
} from '../../../src/index.js';
import { MB, cpuMicros } from '../../lib/measure.js';
import type { SchedulerReplicaResult } from '../scale-types.js';
import { SCHEDULE_JOB_TYPE, everyCron, scheduleNames } from './schedule-names.js';
import { hrtimeWindow } from './trial-util.js';

/** What one scheduler process is given. */
export interface SchedulerReplicaOptions {
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly schedules: number;
  readonly everySeconds: number;
  /** The first fire time to measure (epoch ms); the process must be ready 1.5 s before it. */
  readonly firstFireMs: number;
  /** Fire times to measure, `everySeconds` apart. */
  readonly fires: number;
}

/** The fire window opens this long before a fire time; the idle window before it closes then. */
const LEAD_MS = 1_000;
/** The fire window closes this long after the fire's last outcome in this process (GC, settling)… */
const TAIL_MS = 1_000;
/** …and no earlier than this after the fire time. */
const MIN_FIRE_WINDOW_MS = 2_000;
/** A fire whose outcomes are not all in by then is measured as it stands. */
const FIRE_DEADLINE_MS = 20_000;

/** The fire in progress: its outcomes as they come. */
class FireTally {
  readonly outcomes: Record<string, number> = {};
  count = 0;
  lastAt = 0;
  readonly complete: Promise<void>;
  #resolve: () => void = () => {};

  constructor(
    readonly at: number,
    readonly expected: number,
  ) {
    this.complete = new Promise((resolve) => (this.#resolve = resolve));
  }

  add(outcome: FireOutcome, now: number): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    this.count += 1;
    this.lastAt = now;
    if (this.count === this.expected) this.#resolve();
  }
}

/**
 * One scheduler process as `warren scheduler` runs one (src/cli/start-command.ts): a Worker with no job types, the
 * schedules, warren's metrics on a registry of its own, locks in Redis; logs off. Every schedule fires every
 * `everySeconds` and publishes one job of {@link SCHEDULE_JOB_TYPE}. It measures itself from 1 s before the first fire time it was
 * given to the end of the last fire's window, then stops:
 *
 * - a fire window per fire time, [fire − 1 s, last outcome of the fire here + 1 s] (at least [fire − 1 s, fire +
 *   2 s]): CPU time, the event loop's longest delay, the outcomes (`published`, `skipped_locked`, …);
 * - the idle windows between them, [end of a fire window, next fire − 1 s]: CPU time only;
 * - fire time → `published` for each fire this process published (the broker's confirm).
 *
 * Outcomes are attributed to a fire time by when they come (from 1 s before it until 1 s before the next).
 */
export async function schedulerReplica(options: SchedulerReplicaOptions): Promise<SchedulerReplicaResult> {
  const { schedules: count, fires, firstFireMs } = options;
  const periodMs = options.everySeconds * 1000;
  const cron = everyCron(options.everySeconds);
  const schedules = scheduleNames(count).map((name) => defineSchedule({ name, cron, jobType: SCHEDULE_JOB_TYPE }));
  const config = loadConfig({
    overrides: {
      namespace: options.namespace,
      amqpUrl: options.amqpUrl,
      redisUrl: options.redisUrl,
      logLevel: 'silent',
      queueType: 'quorum',
    },
  });
  const tallies = Array.from({ length: fires }, (_, i) => new FireTally(firstFireMs + i * periodMs, count));
  const confirmedMs: number[] = [];
  const onFire = (_schedule: string, outcome: FireOutcome): void => {
    const now = Date.now();
    const tally = tallies.findLast((t) => now >= t.at - LEAD_MS);
    if (!tally) return;
    tally.add(outcome, now);
    if (outcome === 'published') confirmedMs.push(now - tally.at);
  };
  const worker = new Worker({
    config,
    registry: new Registry(),
    schedules,
    logger: createLogger(config.logLevel),
    metrics: new WarrenMetrics(new PromRegistry()),
    onFire,
  });
  try {
    await worker.start();
    const readyAt = Date.now();
    const readyMs = process.uptime() * 1000;
    process.stderr.write(`scheduler ready: ${count} schedules, ${firstFireMs - readyAt} ms before the first fire\n`);
    if (readyAt > firstFireMs - 1_500)
      throw new Error(`ready only ${firstFireMs - readyAt} ms before the first fire time (at least 1,500 needed)`);

    const loop = monitorEventLoopDelay({ resolution: 5 });
    const fireResults: Array<SchedulerReplicaResult['fires'][number]> = [];
    const idle: Array<{ cpuUs: number; windowMs: number }> = [];
    const perfWindows: Array<readonly [number, number]> = [];
    let idleFrom: { cpu: NodeJS.CpuUsage; at: number; perf: number } | undefined;
    for (const tally of tallies) {
      await sleepUntil(tally.at - LEAD_MS);
      const cpu0 = process.cpuUsage();
      const at0 = Date.now();
      const perf0 = performance.now();
      if (idleFrom) {
        idle.push({ cpuUs: cpuMicros(idleFrom.cpu, cpu0), windowMs: at0 - idleFrom.at });
        perfWindows.push([idleFrom.perf, perf0]);
      }
      loop.reset();
      loop.enable();
      await Promise.race([tally.complete, sleepUntil(tally.at + FIRE_DEADLINE_MS)]);
      await sleepUntil(Math.max(tally.at + MIN_FIRE_WINDOW_MS, tally.lastAt + TAIL_MS));
      loop.disable();
      const cpu1 = process.cpuUsage();
      const at1 = Date.now();
      const perf1 = performance.now();
      perfWindows.push([perf0, perf1]);
      fireResults.push({
        at: tally.at,
        outcomes: { ...tally.outcomes },
        lastOutcomeMs: tally.count === 0 ? Number.NaN : tally.lastAt - tally.at,
        cpuUs: cpuMicros(cpu0, cpu1),
        windowMs: at1 - at0,
        loopDelayMaxMs: loop.max / 1e6,
      });
      idleFrom = { cpu: cpu1, at: at1, perf: perf1 };
    }
    const memory = process.memoryUsage();
    const [firstFire, firstIdle] = perfWindows;
    return {
      ok: true,
      mode: 'scheduler',
      schedules: count,
      readyMs,
      readyAt,
      fires: fireResults,
      idle,
      confirmedMs,
      rssMb: memory.rss / MB,
      heapUsedMb: memory.heapUsed / MB,
      windowUs: hrtimeWindow(perfWindows[0]?.[0] ?? 0, perfWindows.at(-1)?.[1] ?? 0),
      fireWindowUs: hrtimeWindow(...(firstFire as readonly [number, number])),
      ...(firstIdle ? { idleWindowUs: hrtimeWindow(...firstIdle) } : {}),
    };
  } finally {
    await worker.stop().catch(() => {});
  }
}

function sleepUntil(epochMs: number): Promise<void> {
  const ms = epochMs - Date.now();
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
