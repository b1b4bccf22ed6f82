/**
 * The JSON lines the scale trials print (bench/scale/trial.ts), read back by the scale runner. Each trial prints
 * one line: its result with `ok: true`, or `{ ok: false, error }`.
 */

/** The modes of bench/scale/trial.ts. */
export const TRIAL_MODES = [
  'fill-dead-letters',
  'raw-replay',
  'publish',
  'job-types',
  'schedules',
  'scheduler',
  'delayed-jobs',
  'soak',
] as const;
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

/** Order statistics of a set of durations, in milliseconds. */
export interface Spread {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
}

/** The broker's memory at one moment (see bench/scale/broker-memory.ts). */
export interface BrokerMemory {
  /** `erlang:memory(total)`, summed over the nodes. */
  readonly erlangBytes: number;
  /** The nodes' resident set. */
  readonly rssBytes: number;
  /** Quorum queue processes, their dead-letter workers and ETS tables. */
  readonly quorumBytes: number;
  /** The delay levels' queue processes (management statistics), summed. */
  readonly levelsBytes: number;
}

/** The depths of the delay levels and the job queue at one moment of a delayed-jobs trial. */
export interface DepthSample {
  /** Seconds since the first publish. */
  readonly atS: number;
  /** Messages in each level (index = level). */
  readonly levels: readonly number[];
  readonly jobQueue: number;
  /** Jobs delivered so far. */
  readonly delivered: number;
}

/** N delayed jobs pending at once in the delay cascade, then delivered. */
export interface DelayedJobsResult {
  readonly ok: true;
  readonly mode: 'delayed-jobs';
  readonly jobs: number;
  readonly minDelaySeconds: number;
  readonly maxDelaySeconds: number;
  /** Publishes awaited at once. */
  readonly concurrency: number;
  readonly prefetch: number;
  /** First publish → last confirmed, in seconds, and confirmed publishes per second. */
  readonly publishSeconds: number;
  readonly publishRate: number;
  readonly resolved: number;
  readonly rejected: number;
  readonly firstError?: string;
  /** Jobs delivered by the moment the last publish was confirmed, and by the memory reading. */
  readonly deliveredAtPublished: number;
  readonly deliveredAtReading: number;
  /** The cascade declared and empty (after one warm-up job went through), and with every job pending. */
  readonly memoryBefore: BrokerMemory;
  readonly memoryPending: BrokerMemory;
  /** Messages in the levels right after the last publish was confirmed, in all and per level (index = level). */
  readonly levelMessages: number;
  readonly messagesByLevel: readonly number[];
  /** The queues' depths every second from the first publish on. */
  readonly depths: readonly DepthSample[];
  /** Distinct jobs delivered, jobs never delivered, deliveries beyond the first of a job. */
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  /** Handler receipt − due time (the `runAt` the publisher was given, carried in the payload). */
  readonly lateness: Spread;
  /** Deliveries before their due time. */
  readonly early: number;
  /**
   * Handler receipt − (the payload's creation + the whole seconds the cascade held it, read from the routing key):
   * the broker's and the consumer's part of the lateness, without the rounding up to a whole second.
   */
  readonly transit: Spread;
  /** The transit by the number of levels the job waited in (the 1 bits of its delay). */
  readonly transitByLevels: ReadonlyArray<{ readonly levels: number } & Spread>;
  /** Messages still in the job queue and the levels at the end. */
  readonly leftInQueues: number;
  /** Last due time → last delivery, in seconds. */
  readonly drainSeconds: number;
}

/** Memory and active resources of the soak's process at one moment. */
export interface SoakSample {
  /** Seconds since the paced load started (negative: before it). */
  readonly atS: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** /proc/self/status: anonymous (malloc, V8) and file-backed (the node binary, libraries) resident pages. */
  readonly rssAnonMb: number;
  readonly rssFileMb: number;
  /** V8's young generation (both semi-spaces), as allocated. */
  readonly newSpaceMb: number;
  /** Jobs acknowledged so far. */
  readonly acked: number;
  /** `process.getActiveResourcesInfo()` by type. */
  readonly resources: Readonly<Record<string, number>>;
}

/** `process.memoryUsage()` right after a full collection (`--expose-gc`). */
export interface GcReading {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
}

/** A worker and a client (or the raw amqplib pair) at a steady rate for minutes. */
export interface SoakTrialResult {
  readonly ok: true;
  readonly mode: 'soak';
  readonly system: 'warren' | 'amqplib';
  readonly rate: number;
  readonly seconds: number;
  readonly achievedRate: number;
  readonly jobs: number;
  readonly acked: number;
  /** Publish → handler, in milliseconds. */
  readonly latency: Spread;
  readonly samples: readonly SoakSample[];
  /** After a full collection when the paced load starts (after the warm-up second) and when every job is acked. */
  readonly gcStart: GcReading;
  readonly gcEnd: GcReading;
}

/** p50 / p99 / max of a set of times, in milliseconds, and how many there were. */
export interface LatencySpread {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** How each fire ended in one scheduler process, by warren's fire outcome (`published`, `skipped_locked`, …). */
export type FireOutcomeCounts = Readonly<Record<string, number>>;

/**
 * One scheduler process (mode `scheduler`): a Worker with only schedules, as `warren scheduler` runs it. It
 * measures itself over the fires it was told to wait for, then stops.
 */
export interface SchedulerReplicaResult {
  readonly ok: true;
  readonly mode: 'scheduler';
  readonly schedules: number;
  /** Spawn (the process's own start) → `worker.start()` resolved, in ms. */
  readonly readyMs: number;
  /** The time `worker.start()` resolved (epoch ms). */
  readonly readyAt: number;
  /** Per measured fire time, in order. */
  readonly fires: ReadonlyArray<{
    /** The fire time (epoch ms). */
    readonly at: number;
    readonly outcomes: FireOutcomeCounts;
    /** Fire time → the last outcome of this fire in this process, in ms. */
    readonly lastOutcomeMs: number;
    /** CPU time over the fire window ([fire − 1 s, last outcome + 1 s], at least [fire − 1 s, fire + 2 s]), in µs. */
    readonly cpuUs: number;
    readonly windowMs: number;
    /** The event loop's longest delay in the fire window (perf_hooks), in ms. */
    readonly loopDelayMaxMs: number;
  }>;
  /** The idle windows: from the end of one fire window to 1 s before the next fire. */
  readonly idle: ReadonlyArray<{ readonly cpuUs: number; readonly windowMs: number }>;
  /** Fire time → `published` (the job confirmed by the broker), in ms, one per fire this process published. */
  readonly confirmedMs: readonly number[];
  readonly rssMb: number;
  readonly heapUsedMb: number;
  /** First fire window's start → last fire window's end, for `--cpu-prof` (bench/profile.ts). */
  readonly windowUs: readonly [number, number];
  /** The first fire window, and the first idle window (when there is one), in the same time base. */
  readonly fireWindowUs: readonly [number, number];
  readonly idleWindowUs?: readonly [number, number];
}

/** Redis commands counted by `INFO commandstats` over the fire windows and the idle windows between them. */
export interface RedisCommandCounts {
  /** Calls by command in the fire windows, summed (the `info` calls of the measurement itself left out). */
  readonly fireCalls: Readonly<Record<string, number>>;
  readonly fireWindowMs: number;
  /** Calls by command in the idle windows: other users of the Redis server, and the schedulers at rest. */
  readonly idleCalls: Readonly<Record<string, number>>;
  readonly idleWindowMs: number;
}

/**
 * One step of the schedules scenario (mode `schedules`): N schedules in R scheduler processes, measured over F fire
 * times from a consumer in this process.
 */
export interface SchedulesResult {
  readonly ok: true;
  readonly mode: 'schedules';
  readonly schedules: number;
  readonly replicas: number;
  /** The cron expression of every schedule. */
  readonly cron: string;
  readonly jobType: string;
  /** The measured fire times (ISO), in order. */
  readonly fireTimes: readonly string[];
  /** Lateness of each (schedule, fire time) received: first arrival at the consumer − fire time, in ms. */
  readonly received: LatencySpread;
  /** Lateness at the publisher: fire time → the publish confirmed (the replicas' `published` outcomes), in ms. */
  readonly confirmed: LatencySpread;
  /** (schedule, fire time) pairs expected: schedules × fire times. */
  readonly expected: number;
  /** Distinct expected message ids received; ids expected but never received; ids received more than once. */
  readonly distinct: number;
  readonly missing: number;
  readonly duplicates: number;
  /** Messages whose id is no expected (schedule, fire time), or whose `x-warren-schedule` header is not its schedule. */
  readonly unexpected: number;
  /** A few of the missing, duplicated and unexpected ids, to look at. */
  readonly examples: readonly string[];
  /** Every message delivered to the consumer. */
  readonly deliveries: number;
  /** Fire outcomes over all replicas. */
  readonly outcomes: FireOutcomeCounts;
  readonly replicaResults: readonly SchedulerReplicaResult[];
  /** `undefined` when Redis's INFO could not be read. */
  readonly redis: RedisCommandCounts | undefined;
}

export type ScaleTrialResult =
  | FillResult
  | RawReplayResult
  | PublishResult
  | JobTypesResult
  | SchedulesResult
  | SchedulerReplicaResult
  | DelayedJobsResult
  | SoakTrialResult;

export interface ScaleTrialFailure {
  readonly ok: false;
  readonly mode: string;
  readonly error: string;
}

/** The progress line the raw replay prints on stderr, as `warren dlq replay` does: `replayed 1000/10000`. */
export const PROGRESS_LINE = /^replayed (\d+)\/(\d+)$/;
