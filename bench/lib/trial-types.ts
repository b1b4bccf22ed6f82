import type { SystemName } from '../systems/system.js';

/**
 * The scenarios a trial can run (`soak` is `latency` held long enough to judge RSS flatness; `deployed` is `e2e` with
 * the publisher in a second process, as deployed).
 */
export const SCENARIOS = ['e2e', 'deployed', 'publish', 'consume', 'latency', 'retry', 'soak'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Latency from the payload's send time to the handler starting, in milliseconds. */
export interface LatencyResult {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly achievedRate: number;
}

/** RSS over a sustained run: is it flat? */
export interface SoakResult {
  /** Median RSS of the first and last 5 s of the steady part (from 10 s into the load). */
  readonly firstMb: number;
  readonly lastMb: number;
  readonly growthMb: number;
  readonly slopeMbPerMin: number;
  readonly samples: number;
  /** Growth of the heap in use after a full GC, steady start → end (needs `node --expose-gc`). */
  readonly retainedGrowthMb?: number;
}

/** One trial's result: the JSON line `trial.ts` prints. */
export interface TrialResult {
  readonly ok: true;
  readonly system: SystemName;
  readonly scenario: Scenario;
  readonly id: string;
  readonly prefetch: number;
  readonly jobs: number;
  /** The measured window, in seconds. */
  readonly seconds: number;
  readonly jobsPerSec: number;
  /** CPU time of this process (user + system) per job over the measured window, in microseconds. */
  readonly cpuUsPerJob: number;
  /** The measured window in `process.hrtime` microseconds (the time base of `--cpu-prof` profiles). */
  readonly windowUs?: readonly [number, number];
  readonly rssStartMb: number;
  readonly rssPeakMb: number;
  /** Peak V8 heap (`heapTotal`) and peak `external` memory (Buffers) while sampling RSS. */
  readonly heapPeakMb: number;
  readonly externalPeakMb: number;
  readonly rssIdleMb?: number;
  readonly latency?: LatencyResult;
  readonly soak?: SoakResult;
  /** `deployed`: the publishing process (`cpuUsPerJob` is then the worker's). */
  readonly publisher?: PublisherResult;
}

/** The publishing process of a `deployed` trial: the JSON line `trial.ts --role publisher` prints. */
export interface PublisherResult {
  readonly ok: true;
  /** Wall clock (`performance.timeOrigin + now`, comparable across processes) of the first publish and the last confirm. */
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  readonly cpuUsPerJob: number;
  readonly rssPeakMb: number;
}

export interface TrialFailure {
  readonly ok: false;
  readonly system: string;
  readonly scenario: string;
  readonly id: string;
  readonly error: string;
}
