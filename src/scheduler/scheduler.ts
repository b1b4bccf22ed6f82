import type { Logger as CronLogger, ScheduledTask } from 'node-cron';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { IllegalStateError } from '../errors/illegal-state-error.js';
import { inFireSpan } from '../tracing/fire-span.js';
import { FireLock, TAKEN } from './fire-lock.js';
import { loadNodeCron } from './load-node-cron.js';
import type { ScheduleDefinition } from './schedule-definition.js';

/** Every way a fire ends, for logs and metrics. */
export const FIRE_OUTCOMES = [
  'published',
  'skipped_locked',
  'lock_error',
  'missed',
  'caught_up',
  'publish_error',
] as const;

/** How a fire ended. */
export type FireOutcome = (typeof FIRE_OUTCOMES)[number];

/**
 * Publishes a job; the scheduler's only way out. Its options name the fire's message id and its schedule: hand them
 * to `WarrenClient#publish` (whose `schedule` option makes the job a scheduled one, de-duplicated by message id).
 */
export type SchedulePublish = (
  jobType: string,
  payload: unknown,
  options: { readonly messageId: string; readonly schedule: string },
) => Promise<string>;

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  readonly namespace: string;
  readonly schedules: readonly ScheduleDefinition[];
  readonly publish: SchedulePublish;
  /** Redis for the per-fire locks and the last-fire record; `undefined` runs without locks (a single replica). */
  readonly redis: Redis | undefined;
  /** Per-fire lock time-to-live. */
  readonly fireLockTtlMs: number;
  readonly logger: Logger;
  readonly onFire?: (schedule: string, outcome: FireOutcome) => void;
}

/** What `warren schedules` shows of a schedule. */
export interface ScheduleStatus {
  readonly name: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly jobType: string;
  readonly catchUpMs: number;
  readonly nextFires: readonly string[];
  readonly lastFire: string | null;
}

/**
 * Schedules of one fire time are fired this many at a time, the event loop let through between the slices: the
 * replies of their locks and the confirms of their jobs are read as they come, and a thousand fires do not hold the
 * loop past the 1 s Redis command timeout (a lock asked for but answered too late is a fire skipped).
 */
const FIRE_SLICE = 100;

/** The message id of one fire: the same in every replica, so consumers can de-duplicate. */
export function fireMessageId(schedule: string, fireTime: Date): string {
  return `${schedule}@${fireTime.toISOString()}`;
}

/**
 * The cron publisher. Runs in every replica of `warren start` (and alone as `warren scheduler`); at each fire the
 * replicas contend for that fire's lock in Redis and the winner publishes the job with message id
 * `<schedule>@<fire time>`. With Redis down a fire is skipped and counted (fail closed); without Redis configured
 * every fire is published (run a single scheduler then).
 */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #logger: Logger;
  readonly #tasks = new Map<string, ScheduledTask>();
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #lock: FireLock | undefined;

  /** node-cron's own messages, into warren's log instead of the console (the events above carry what matters). */
  readonly #cronLogger: CronLogger;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'scheduler' });
    const cronLog = this.#logger.child({ source: 'node-cron' });
    this.#cronLogger = {
      info: (message) => cronLog.debug(message),
      warn: (message) => cronLog.debug(message),
      error: (message, err) => cronLog.debug({ err }, String(message)),
      debug: (message, err) => cronLog.debug({ err }, String(message)),
    };
  }

  /**
   * Starts a timer per cron expression and time zone (shared by the schedules that have them), then publishes missed
   * fires that are inside their catch-up window.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new IllegalStateError(`the scheduler cannot start: it is ${this.#state}`);
    this.#state = 'running';
    const { redis, namespace } = this.#options;
    if (!redis && this.#options.schedules.length > 0) {
      this.#logger.warn(
        'WARREN_REDIS_URL=none: schedules run WITHOUT per-fire locks; run exactly one scheduler, or every replica publishes every fire',
      );
    }
    this.#lock = redis ? new FireLock(redis, namespace) : undefined;
    const cron = loadNodeCron();
    // One node-cron task per expression, not per schedule. With a task each, N schedules of one instant were N
    // timers run back to back, each doing node-cron's date arithmetic and writing its lock request alone before any
    // reply was read; node-cron then judged the later ones by how late their own timer ran, and reported those past
    // its 1 s tolerance as missed: never published, by any replica.
    for (const group of groupByExpression(this.#options.schedules)) {
      const first = group[0] as ScheduleDefinition;
      const task = cron.createTask(first.cron, (context) => this.#fireGroup(group, context.date), {
        name: group.length === 1 ? first.name : `${first.name}+${group.length - 1}`,
        timezone: first.timeZone,
        logger: this.#cronLogger,
      });
      task.on('execution:missed', (context) => {
        for (const schedule of group) {
          this.#logger.warn(
            { schedule: schedule.name, fireTime: context.date.toISOString() },
            'fire missed (the process was busy or paused)',
          );
          this.#options.onFire?.(schedule.name, 'missed');
        }
      });
      for (const schedule of group) this.#tasks.set(schedule.name, task);
      await task.start();
    }
    await Promise.all(this.#options.schedules.filter((s) => s.catchUpMs > 0).map((s) => this.#catchUp(s)));
    this.#logger.info(
      { schedules: this.#options.schedules.map((s) => s.name), locks: redis ? 'redis' : 'none' },
      'scheduler started',
    );
  }

  /**
   * A fire time of schedules sharing an expression: {@link FIRE_SLICE} at a time, their locks asked for together.
   * A scheduler stopped in between fires no more of them (their locks untaken, for another replica).
   */
  async #fireGroup(group: readonly ScheduleDefinition[], fireTime: Date): Promise<void> {
    const slices: Array<Promise<void>> = [];
    for (let i = 0; i < group.length; i += FIRE_SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      if (this.#state !== 'running') break;
      slices.push(this.#fireSlice(group.slice(i, i + FIRE_SLICE), fireTime));
    }
    await Promise.all(slices);
  }

  /**
   * Schedules' fires of one instant: their locks (`<schedule>:<fire time>`, when there is Redis), then the jobs of
   * those this replica took, then one write of their last fires. A fire whose lock another replica holds is skipped;
   * one whose lock Redis could not be asked for, too (fail closed).
   */
  async #fireSlice(slice: readonly ScheduleDefinition[], fireTime: Date): Promise<void> {
    const fireTimeIso = fireTime.toISOString();
    const taken = await this.#take(slice, fireTimeIso);
    const published = await Promise.all(
      slice.map(async (schedule, i) => {
        const lock = taken[i] as PromiseSettledResult<boolean>;
        if (lock.status === 'rejected') {
          this.#logger.error(
            { schedule: schedule.name, fireTime: fireTimeIso, err: lock.reason },
            'fire skipped: the lock store (Redis) is unavailable',
          );
          this.#options.onFire?.(schedule.name, 'lock_error');
          return false;
        }
        if (!lock.value) {
          this.#logger.debug({ schedule: schedule.name, fireTime: fireTimeIso }, 'fire taken by another replica');
          this.#options.onFire?.(schedule.name, 'skipped_locked');
          return false;
        }
        return this.#fire(schedule, fireTime, 'published');
      }),
    );
    await this.#recordLastFires(
      slice.filter((_, i) => published[i]),
      fireTimeIso,
    );
  }

  /** The slice's fire locks, key by key: taken here, held by another replica, or not to be had (Redis failed). */
  async #take(
    slice: readonly ScheduleDefinition[],
    fireTimeIso: string,
  ): Promise<Array<PromiseSettledResult<boolean>>> {
    const lock = this.#lock;
    if (!lock) return slice.map(() => TAKEN);
    try {
      return await lock.takeEach(
        slice.map((schedule) => `${schedule.name}:${fireTimeIso}`),
        this.#options.fireLockTtlMs,
      );
    } catch (reason) {
      return slice.map(() => ({ status: 'rejected', reason }));
    }
  }

  /** Publishes a fire's job: whether the broker confirmed it. */
  async #fire(schedule: ScheduleDefinition, fireTime: Date, outcome: 'published' | 'caught_up'): Promise<boolean> {
    const messageId = fireMessageId(schedule.name, fireTime);
    try {
      await this.#publish(schedule, fireTime, messageId);
    } catch (err) {
      this.#logger.error({ err, schedule: schedule.name, messageId }, 'scheduled publish failed');
      this.#options.onFire?.(schedule.name, 'publish_error');
      return false;
    }
    this.#logger.info(
      { schedule: schedule.name, messageId, jobType: schedule.jobType, outcome },
      'scheduled job published',
    );
    this.#options.onFire?.(schedule.name, outcome);
    return true;
  }

  /** Records the fire time as the schedules' last fire (what catch-up starts from), in one MSET. */
  async #recordLastFires(schedules: readonly ScheduleDefinition[], fireTimeIso: string): Promise<void> {
    const { redis } = this.#options;
    if (!redis || schedules.length === 0) return;
    await redis
      .mset(new Map(schedules.map((schedule) => [this.#lastKey(schedule.name), fireTimeIso])))
      .catch((err: unknown) =>
        this.#logger.warn({ err, schedules: schedules.map((s) => s.name) }, 'could not record the last fire'),
      );
  }

  /** Publishes a fire's job; while tracing is on, inside the fire's span, the root of a new trace. */
  #publish(schedule: ScheduleDefinition, fireTime: Date, messageId: string): Promise<string> {
    const { name, jobType, payload } = schedule;
    return inFireSpan({ schedule: name, jobType, fireTime }, () =>
      this.#options.publish(jobType, payload, { messageId, schedule: name }),
    );
  }

  #lastKey(name: string): string {
    return `${this.#options.namespace}:schedule:${name}:last`;
  }

  /**
   * Publishes the latest fire missed since the last recorded one, if it is inside the catch-up window. Goes through
   * the same per-fire lock, so several replicas starting together publish it once.
   */
  async #catchUp(schedule: ScheduleDefinition): Promise<void> {
    const { redis } = this.#options;
    const task = this.#tasks.get(schedule.name);
    const lock = this.#lock;
    if (!redis || !task || !lock) return;
    let last: string | null;
    try {
      last = await redis.get(this.#lastKey(schedule.name));
    } catch (err) {
      this.#logger.warn({ err, schedule: schedule.name }, 'catch-up skipped: Redis unavailable');
      return;
    }
    if (last === null) return;
    const missed = await latestMatch(task, schedule.cron, Date.parse(last), Date.now(), schedule.catchUpMs);
    if (!missed) return;
    const key = `${schedule.name}:${missed.toISOString()}`;
    try {
      if (!(await lock.shouldRun(key, this.#options.fireLockTtlMs))) return;
    } catch (err) {
      this.#logger.error({ err, schedule: schedule.name }, 'catch-up skipped: the lock store (Redis) is unavailable');
      this.#options.onFire?.(schedule.name, 'lock_error');
      return;
    }
    this.#logger.info(
      { schedule: schedule.name, fireTime: missed.toISOString() },
      'publishing a fire missed while no scheduler ran',
    );
    if (await this.#fire(schedule, missed, 'caught_up')) await this.#recordLastFires([schedule], missed.toISOString());
  }

  /** Each schedule with its next three fire times and last recorded fire. */
  async describe(): Promise<ScheduleStatus[]> {
    return Promise.all(
      this.#options.schedules.map(async (schedule) => {
        const running = this.#tasks.get(schedule.name);
        const task = running ?? loadNodeCron().createTask(schedule.cron, () => {}, { timezone: schedule.timeZone });
        let nextFires: string[];
        try {
          nextFires = task.getNextRuns(3).map((date) => date.toISOString());
        } finally {
          // node-cron keeps every task it creates in a registry of its own until it is destroyed: a process that
          // describes its schedules again and again (the web UI) would collect them.
          if (running === undefined) await task.destroy();
        }
        const lastFire = (await this.#options.redis?.get(this.#lastKey(schedule.name)).catch(() => null)) ?? null;
        return {
          name: schedule.name,
          cron: schedule.cron,
          timeZone: schedule.timeZone,
          jobType: schedule.jobType,
          catchUpMs: schedule.catchUpMs,
          nextFires,
          lastFire,
        };
      }),
    );
  }

  /** Publishes one fire of a schedule now (message id `<name>@<now>`), outside the lock. */
  async trigger(name: string): Promise<string> {
    const schedule = this.#options.schedules.find((s) => s.name === name);
    if (!schedule) {
      throw new IllegalStateError(
        `no schedule named "${name}"; known: ${this.#options.schedules.map((s) => s.name).join(', ') || '(none)'}`,
      );
    }
    const now = new Date();
    now.setMilliseconds(0);
    return this.#publish(schedule, now, fireMessageId(schedule.name, now));
  }

  /** Stops every timer. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const task of new Set(this.#tasks.values())) await task.destroy();
    this.#tasks.clear();
  }
}

/** The schedules grouped by time zone and cron expression, in their order. */
function groupByExpression(schedules: readonly ScheduleDefinition[]): ScheduleDefinition[][] {
  const groups = new Map<string, ScheduleDefinition[]>();
  for (const schedule of schedules) {
    const key = `${schedule.timeZone} ${schedule.cron}`;
    const group = groups.get(key);
    if (group) group.push(schedule);
    else groups.set(key, [schedule]);
  }
  return [...groups.values()];
}

/**
 * The latest time in (after, now] matching the task, at most `windowMs` old. Steps back a second at a time, or a
 * minute for expressions without a seconds field (only second 0 can match), and yields to the event loop every
 * thousand steps so a long window never stalls other schedules' fires.
 */
async function latestMatch(
  task: ScheduledTask,
  expression: string,
  afterMs: number,
  nowMs: number,
  windowMs: number,
): Promise<Date | undefined> {
  const step = expression.trim().split(/\s+/).length >= 6 ? 1_000 : 60_000;
  const floor = Math.max(afterMs + 1_000, nowMs - windowMs);
  let steps = 0;
  for (let t = Math.floor(nowMs / step) * step; t >= floor; t -= step) {
    const date = new Date(t);
    if (task.match(date)) return date;
    steps += 1;
    if (steps % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return undefined;
}
