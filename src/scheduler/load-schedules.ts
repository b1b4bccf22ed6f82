import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import {
  defineSchedule,
  isScheduleDefinition,
  type ScheduleDefinition,
  type ScheduleInput,
} from './schedule-definition.js';

/** The schedules file used when the `schedules` setting is empty. */
export const DEFAULT_SCHEDULES_FILE = 'config/schedules.json';

/**
 * Reads the schedules file (a JSON array of schedules), if there is one: the `schedules` setting, else
 * `config/schedules.json` under `cwd` when it exists.
 * @throws ConfigError naming the file, or the schedule that is invalid
 */
export function loadSchedulesFile(setting: string, cwd: string): ScheduleDefinition[] {
  const file = resolve(cwd, setting || DEFAULT_SCHEDULES_FILE);
  if (!setting && !existsSync(file)) return [];
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`schedules file ${file} cannot be read as JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!Array.isArray(data)) throw new ConfigError(`schedules file ${file} must hold a JSON array of schedules`);
  return data.map((entry) => defineSchedule(entry as ScheduleInput));
}

/** Combines file and code schedules; a name used twice is an error. */
export function mergeSchedules(...lists: ReadonlyArray<readonly unknown[]>): ScheduleDefinition[] {
  const byName = new Map<string, ScheduleDefinition>();
  for (const entry of lists.flat()) {
    const schedule = isScheduleDefinition(entry) ? entry : defineSchedule(entry as ScheduleInput);
    if (byName.has(schedule.name)) throw new ConfigError(`schedule "${schedule.name}" is defined twice`);
    byName.set(schedule.name, schedule);
  }
  return [...byName.values()];
}
