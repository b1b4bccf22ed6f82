/**
 * The JSON lines the scale trials print (bench/scale/trial.ts), read back by the scale runner. Each trial prints
 * one line: its result with `ok: true`, or `{ ok: false, error }`.
 */

/** The modes of bench/scale/trial.ts. */
export const TRIAL_MODES = ['fill-dead-letters', 'raw-replay', 'publish', 'job-types'] as const;
export type TrialMode = (typeof TRIAL_MODES)[number];

/** Dead letters put straight into a dead-letter queue. */
export interface FillResult {
  readonly ok: true;
  readonly mode: 'fill-dead-letters';
  readonly count: number;
  readonly seconds: number;
  /** Bytes of the failure headers of one dead letter, as amqplib encodes them (exactly). */
  readonly headerBytes: number;
}

/** The raw replay baseline: consume the dead-letter queue, republish each with a confirm, ack after it. */
export interface RawReplayResult {
  readonly ok: true;
  readonly mode: 'raw-replay';
  readonly count: number;
  /** First delivery → last acknowledgement, in seconds. */
  readonly seconds: number;
}

/** N publishes from one process with `concurrency` of them awaited at once. */
export interface PublishResult {
  readonly ok: true;
  readonly mode: 'publish';
  readonly system: 'warren' | 'amqplib';
  /** warren's `publishBufferSize`, when the trial set it. */
  readonly publishBufferSize?: number;
  readonly concurrency: number;
  readonly jobs: number;
  /** First publish → last promise settled, in seconds. */
  readonly seconds: number;
  /** Confirmed publishes per second. */
  readonly jobsPerSec: number;
  readonly cpuUsPerJob: number;
  /** Publish promises that resolved (confirmed) and that rejected, and the rejections by error code or name. */
  readonly resolved: number;
  readonly rejected: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly firstError?: string;
  /** Messages in the queue afterwards (what the broker really holds). */
  readonly queued: number;
  /** Most publishes awaiting their promise at once. */
  readonly maxOutstanding: number;
  readonly rssStartMb: number;
  readonly rssPeakMb: number;
  readonly heapUsedPeakMb: number;
  readonly heapTotalPeakMb: number;
  readonly windowUs: readonly [number, number];
}

/** One Worker consuming T job types. */
export interface JobTypesResult {
  readonly ok: true;
  readonly mode: 'job-types';
  readonly types: number;
  readonly jobs: number;
  readonly prefetch: number;
  /** `worker.start()` on a namespace with nothing declared (it declares the topology), in ms. */
  readonly coldStartMs: number;
  /** `worker.start()` again, the topology there and the backlog waiting (its handlers held), in ms. */
  readonly warmStartMs: number;
  /** After the first start, 2 s without load. */
  readonly rssIdleMb: number;
  readonly heapUsedIdleMb: number;
  /** Peaks while consuming the backlog. */
  readonly rssPeakMb: number;
  readonly heapUsedPeakMb: number;
  /** The handlers released (`start()` resolved, every consumer subscribed) → last success, in seconds. */
  readonly seconds: number;
  readonly jobsPerSec: number;
  readonly cpuUsPerJob: number;
  /** The slowest and fastest job type: the share of its jobs done when the backlog was half done. */
  readonly halfwayShareMin: number;
  readonly halfwayShareMax: number;
  readonly windowUs: readonly [number, number];
}

export type ScaleTrialResult = FillResult | RawReplayResult | PublishResult | JobTypesResult;

export interface ScaleTrialFailure {
  readonly ok: false;
  readonly mode: string;
  readonly error: string;
}

/** The progress line the raw replay prints on stderr, as `warren dlq replay` does: `replayed 1000/10000`. */
export const PROGRESS_LINE = /^replayed (\d+)\/(\d+)$/;
