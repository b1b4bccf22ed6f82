import { ConfigError } from '../errors/config-error.js';
import { parseDuration } from '../config/duration.js';
import { invalidJobType } from '../config/name-rules.js';
import { loadNodeCron } from './load-node-cron.js';

/** A schedule as declared, in code (`defineSchedule`) or in the schedules file. */
export interface ScheduleInput {
  /** Unique name; part of every fire's message id (`<name>@<fire time>`). */
  readonly name: string;
  /** Cron expression; a leading seconds field is allowed (`*\/10 * * * * *`). */
  readonly cron: string;
  /** IANA time zone the expression is read in. @defaultValue `UTC` */
  readonly timeZone?: string;
  /** The job each fire publishes. */
  readonly jobType: string;
  /** Its payload. @defaultValue `{}` */
  readonly payload?: unknown;
  /**
   * A fire missed while no scheduler ran is published once when one starts again, if it is at most this old
   * (milliseconds or a duration such as `"1h"`). @defaultValue 0 (off)
   */
  readonly catchUpMs?: number | string;
}

/** A validated schedule. */
export interface ScheduleDefinition {
  readonly kind: 'warren.schedule';
  readonly name: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly jobType: string;
  readonly payload: unknown;
  readonly catchUpMs: number;
}

/**
 * Defines a schedule, validated at once.
 * @throws ConfigError naming the schedule and what is wrong (invalid expression, unknown time zone, …)
 */
export function defineSchedule(input: ScheduleInput): ScheduleDefinition {
  const name = typeof input?.name === 'string' ? input.name : '';
  const fail = (what: string): never => {
    throw new ConfigError(`schedule ${JSON.stringify(name || input?.name)}: ${what}`);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/.test(name))
    fail('name must be 1-100 letters, digits, ".", ":", "-" or "_"');
  if (typeof input.cron !== 'string') fail(`cron must be a cron expression; got ${JSON.stringify(input.cron)}`);
  const validation = loadNodeCron().validateDetailed(input.cron);
  if (!validation.valid) {
    fail(
      `invalid cron expression "${input.cron}": ${validation.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
    );
  }
  const timeZone = input.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone))
    fail(`unknown time zone ${JSON.stringify(timeZone)} (use an IANA name such as Europe/Berlin)`);
  if (invalidJobType(input.jobType) !== undefined)
    fail(`jobType must be a job type; got ${JSON.stringify(input.jobType)}`);
  const catchUp = input.catchUpMs ?? 0;
  const catchUpMs = typeof catchUp === 'string' ? parseDuration(catchUp) : catchUp;
  if (catchUpMs === undefined || !Number.isInteger(catchUpMs) || catchUpMs < 0) {
    fail(`catchUpMs must be a duration such as 0, 3600000 or "1h"; got ${JSON.stringify(catchUp)}`);
  }
  return Object.freeze({
    kind: 'warren.schedule' as const,
    name,
    cron: input.cron,
    timeZone,
    jobType: input.jobType,
    payload: input.payload ?? {},
    catchUpMs: catchUpMs as number,
  });
}

/**
 * Time zones found valid. Building an `Intl.DateTimeFormat` costs about 90 µs: a thousand schedules in one zone were
 * 90 ms of start-up spent asking the same question.
 */
const knownTimeZones = new Set<string>();

function isTimeZone(zone: string): boolean {
  if (knownTimeZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  knownTimeZones.add(zone);
  return true;
}

/** True when `value` is a {@link ScheduleDefinition}. */
export function isScheduleDefinition(value: unknown): value is ScheduleDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'warren.schedule';
}
