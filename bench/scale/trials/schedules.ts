import amqp from 'amqplib';
import { Redis } from 'ioredis';
import {
  HEADERS,
  Registry,
  Worker,
  createLogger,
  defineJob,
  fireMessageId,
  jobQueue,
  loadConfig,
} from '../../../src/index.js';
import { deleteTopology, namespaceExchanges, namespaceQueues } from '../../../src/testing/clean-test-namespace.js';
import { max, quantile } from '../../lib/stats.js';
import { runChild, trialOutput, type ChildRun } from '../child.js';
import type { RedisCommandCounts, SchedulerReplicaResult, SchedulesResult, LatencySpread } from '../scale-types.js';
import { SCHEDULE_JOB_TYPE, everyCron, firstFireAfter, scheduleNames } from './schedule-names.js';

/** What one step of the schedules scenario is given. */
export interface SchedulesOptions {
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly schedules: number;
  readonly replicas: number;
  /** Fire times measured. */
  readonly fires: number;
  /** 60 (every minute, `* * * * *`), or a divisor of 60 for quicker runs by hand. */
  readonly everySeconds: number;
  /** The scheduler processes start this long before the first measured fire time. */
  readonly leadSeconds: number;
  /** This bundle (bench/.build/scale/trial.mjs), which the scheduler processes run too. */
  readonly bundle: string;
  /** `node` flags for the first scheduler process (a `--cpu-prof` profile). */
  readonly replicaNodeArgs: readonly string[];
}

/** The measuring windows of Redis open this long before a fire time, as the schedulers' own do. */
const LEAD_MS = 1_000;
/** A fire window closes 1 s after its last message arrived, 2 s after the fire time at the earliest… */
const TAIL_MS = 1_000;
const MIN_FIRE_WINDOW_MS = 2_000;
/** …and at the latest this long after the fire time, whatever is missing. */
const FIRE_DEADLINE_MS = 20_000;
/** After the schedulers have stopped, copies still on their way (a duplicate) get this long to arrive. */
const STRAGGLER_MS = 2_000;

/** Arrivals at the consumer, by message id, with the distinct ids of each fire time counted as they come. */
class Arrivals {
  readonly byId = new Map<string, { count: number; firstAt: number }>();
  deliveries = 0;
  /** Messages whose `x-warren-schedule` header is not the schedule their id names. */
  wrongHeader: string[] = [];
  readonly #perFire = new Map<number, { count: number; lastAt: number; wake?: () => void }>();

  constructor(readonly expectedPerFire: number) {}

  add(id: string, schedule: unknown, at: number): void {
    this.deliveries += 1;
    const seen = this.byId.get(id);
    if (seen) {
      seen.count += 1;
      return;
    }
    this.byId.set(id, { count: 1, firstAt: at });
    const sep = id.lastIndexOf('@');
    if (schedule !== id.slice(0, sep)) this.wrongHeader.push(id);
    const fire = this.#fire(Date.parse(id.slice(sep + 1)));
    fire.count += 1;
    fire.lastAt = at;
    if (fire.count === this.expectedPerFire) fire.wake?.();
  }

  /** Resolves when every schedule's message of the fire time has arrived, or at `deadline`. */
  async complete(fireAt: number, deadline: number): Promise<{ lastAt: number }> {
    const fire = this.#fire(fireAt);
    if (fire.count < this.expectedPerFire) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        fire.wake = resolve;
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      clearTimeout(timer);
    }
    return { lastAt: fire.lastAt };
  }

  #fire(at: number): { count: number; lastAt: number; wake?: () => void } {
    let fire = this.#perFire.get(at);
    if (!fire) {
      fire = { count: 0, lastAt: 0 };
      this.#perFire.set(at, fire);
    }
    return fire;
  }
}

/**
 * One step: N schedules, every one firing every minute and publishing a job of one shared job type
 * ({@link SCHEDULE_JOB_TYPE}), in R scheduler processes (mode `scheduler`, the same schedules, the same Redis: each
 * fire time must be published once). This process declares the job type's queue, consumes it with a plain amqplib
 * consumer (no de-duplication: every copy counts), starts the schedulers `leadSeconds` before a fire time and
 * measures `fires` fire times:
 *
 * - lateness: a message's first arrival here − the fire time its id names (`<schedule>@<fire time>`);
 * - exactly once: every (schedule, fire time) received, none twice, by message id;
 * - Redis: `INFO commandstats` at the edges of each fire window and of the idle windows between them;
 * - the schedulers' own CPU, outcomes and confirm times, from their results.
 */
export async function schedulesStep(options: SchedulesOptions): Promise<SchedulesResult> {
  const { namespace, schedules, replicas, fires } = options;
  const periodMs = options.everySeconds * 1000;
  const cron = everyCron(options.everySeconds);
  const names = scheduleNames(schedules);
  const queue = jobQueue(namespace, SCHEDULE_JOB_TYPE);
  await declareJobType(options);
  const arrivals = new Arrivals(schedules);
  const model = await amqp.connect(options.amqpUrl.split(',')[0] ?? options.amqpUrl);
  model.on('error', () => {});
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  let redisFailed: string | undefined;
  const stats = async (): Promise<Map<string, number> | undefined> => {
    if (redisFailed !== undefined) return undefined;
    try {
      return parseCommandStats(await redis.info('commandstats'));
    } catch (error) {
      redisFailed = (error as Error).message;
      return undefined;
    }
  };
  const runs: Array<Promise<ChildRun>> = [];
  const stopSchedulers = new AbortController();
  try {
    const channel = await model.createChannel();
    await channel.prefetch(5_000);
    await channel.consume(queue, (message) => {
      if (!message) return;
      const at = Date.now();
      arrivals.add(String(message.properties.messageId ?? ''), message.properties.headers?.[HEADERS.schedule], at);
      channel.ack(message);
    });
    await redis.connect();

    const firstFireMs = firstFireAfter(Date.now(), options.leadSeconds * 1000, periodMs);
    const fireTimes = Array.from({ length: fires }, (_, i) => firstFireMs + i * periodMs);
    await sleepUntil(firstFireMs - options.leadSeconds * 1000);
    const replicaArgs = [
      '--mode',
      'scheduler',
      '--namespace',
      namespace,
      '--schedules',
      String(schedules),
      '--every-seconds',
      String(options.everySeconds),
      '--first-fire-ms',
      String(firstFireMs),
      '--fires',
      String(fires),
      '--amqp-url',
      options.amqpUrl,
      '--redis-url',
      options.redisUrl,
      '--timeout-seconds',
      String(Math.ceil((fires * periodMs) / 1000 + options.leadSeconds + 60)),
    ];
    const timeoutMs = fires * periodMs + options.leadSeconds * 1000 + 150_000;
    for (let i = 0; i < replicas; i += 1) {
      const nodeArgs = i === 0 ? options.replicaNodeArgs : [];
      runs.push(
        runChild(process.execPath, [...nodeArgs, options.bundle, ...replicaArgs], {
          cwd: process.cwd(),
          timeoutMs,
          signal: stopSchedulers.signal,
        }),
      );
    }
    // A scheduler process that ends with an error (not ready in time, cannot connect) ends the step.
    const failed = new Promise<never>((_, reject) => {
      for (const [i, run] of runs.entries()) {
        void run.then((r) => {
          if (r.code !== 0) reject(new Error(`scheduler ${i + 1}: ${replicaError(r)}`));
        });
      }
    });
    failed.catch(() => {});

    const fireCalls: Record<string, number> = {};
    const idleCalls: Record<string, number> = {};
    let fireWindowMs = 0;
    let idleWindowMs = 0;
    let idleFrom: { stats: Map<string, number> | undefined; at: number } | undefined;
    for (const fireAt of fireTimes) {
      await Promise.race([sleepUntil(fireAt - LEAD_MS), failed]);
      const s0 = await stats();
      const at0 = Date.now();
      if (idleFrom) {
        addDelta(idleCalls, idleFrom.stats, s0);
        idleWindowMs += at0 - idleFrom.at;
      }
      const { lastAt } = await Promise.race([arrivals.complete(fireAt, fireAt + FIRE_DEADLINE_MS), failed]);
      await Promise.race([sleepUntil(Math.max(fireAt + MIN_FIRE_WINDOW_MS, lastAt + TAIL_MS)), failed]);
      const s1 = await stats();
      const at1 = Date.now();
      addDelta(fireCalls, s0, s1);
      fireWindowMs += at1 - at0;
      idleFrom = { stats: s1, at: at1 };
    }
    const finished = await Promise.race([Promise.all(runs), failed]);
    await sleepUntil(Date.now() + STRAGGLER_MS);
    await channel.close().catch(() => {});

    const replicaResults = finished.map((run, i) => {
      const parsed = trialOutput<SchedulerReplicaResult>(run);
      if ('error' in parsed) throw new Error(`scheduler ${i + 1}: ${parsed.error}`);
      return parsed.result;
    });
    const expectedIds = new Map<string, number>();
    for (const fireAt of fireTimes) {
      const date = new Date(fireAt);
      for (const name of names) expectedIds.set(fireMessageId(name, date), fireAt);
    }
    const lateness: number[] = [];
    const examples: string[] = [];
    let missing = 0;
    let duplicates = 0;
    for (const [id, fireAt] of expectedIds) {
      const seen = arrivals.byId.get(id);
      if (!seen) {
        missing += 1;
        if (examples.length < 6) examples.push(`missing ${id}`);
        continue;
      }
      lateness.push(seen.firstAt - fireAt);
      if (seen.count > 1) {
        duplicates += 1;
        if (examples.length < 6) examples.push(`${seen.count}× ${id}`);
      }
    }
    let unexpected = arrivals.wrongHeader.length;
    for (const id of arrivals.wrongHeader) if (examples.length < 6) examples.push(`wrong x-warren-schedule: ${id}`);
    for (const [id, seen] of arrivals.byId) {
      if (expectedIds.has(id)) continue;
      unexpected += seen.count;
      if (examples.length < 6) examples.push(`unexpected ${id}`);
    }
    const outcomes: Record<string, number> = {};
    for (const replica of replicaResults)
      for (const fire of replica.fires)
        for (const [outcome, n] of Object.entries(fire.outcomes)) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
    const redisCounts: RedisCommandCounts | undefined =
      redisFailed === undefined ? { fireCalls, fireWindowMs, idleCalls, idleWindowMs } : undefined;
    return {
      ok: true,
      mode: 'schedules',
      schedules,
      replicas,
      cron,
      jobType: SCHEDULE_JOB_TYPE,
      fireTimes: fireTimes.map((at) => new Date(at).toISOString()),
      received: spread(lateness),
      confirmed: spread(replicaResults.flatMap((r) => r.confirmedMs)),
      expected: expectedIds.size,
      distinct: expectedIds.size - missing,
      missing,
      duplicates,
      unexpected,
      examples,
      deliveries: arrivals.deliveries,
      outcomes,
      replicaResults,
      redis: redisCounts,
    };
  } finally {
    // Scheduler processes still running (a failed step) would declare the exchanges again when they reconnect.
    stopSchedulers.abort();
    await Promise.all(runs);
    redis.disconnect();
    await model.close().catch(() => {});
    await deleteTopology(
      options.amqpUrl,
      namespaceQueues(namespace, [SCHEDULE_JOB_TYPE]),
      namespaceExchanges(namespace),
    );
  }
}

/** The job type's topology, declared as a worker for it declares it: a Worker started, then stopped. */
async function declareJobType(options: SchedulesOptions): Promise<void> {
  const config = loadConfig({
    overrides: {
      namespace: options.namespace,
      amqpUrl: options.amqpUrl,
      redisUrl: 'none',
      logLevel: 'silent',
      queueType: 'quorum',
    },
  });
  const worker = new Worker({
    config,
    registry: new Registry().add([defineJob(SCHEDULE_JOB_TYPE, () => {})]),
    logger: createLogger(config.logLevel),
  });
  try {
    await worker.start();
  } finally {
    await worker.stop();
  }
}

/** `INFO commandstats` as calls by command (`cmdstat_evalsha:calls=12,…` → evalsha → 12). */
export function parseCommandStats(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

/** Adds the calls between two readings to `into`, leaving out `info` (the readings' own). */
function addDelta(
  into: Record<string, number>,
  from: Map<string, number> | undefined,
  to: Map<string, number> | undefined,
): void {
  if (!from || !to) return;
  for (const [command, calls] of to) {
    if (command === 'info') continue;
    const delta = calls - (from.get(command) ?? 0);
    if (delta > 0) into[command] = (into[command] ?? 0) + delta;
  }
}

function spread(values: readonly number[]): LatencySpread {
  return { count: values.length, p50: quantile(values, 0.5), p99: quantile(values, 0.99), max: max(values) };
}

/** Why a scheduler process failed: its `{ ok: false, error }` line, else its exit and last stderr lines. */
function replicaError(run: ChildRun): string {
  const parsed = trialOutput<SchedulerReplicaResult>(run);
  return 'error' in parsed ? parsed.error : `exit ${String(run.code)}`;
}

function sleepUntil(epochMs: number): Promise<void> {
  const ms = epochMs - Date.now();
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
