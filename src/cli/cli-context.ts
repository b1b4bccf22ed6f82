import { existsSync } from 'node:fs';
import type { JobMiddleware } from '../registry/job-definition.js';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import type { ConnectRetry } from '../connection/broker-connection.js';
import { invalidJobType } from '../config/name-rules.js';
import { ConfigError } from '../errors/config-error.js';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logging/logger.js';
import { Registry } from '../registry/registry.js';
import { DEFAULT_SCHEDULES_FILE, loadSchedulesFile, mergeSchedules } from '../scheduler/load-schedules.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import { DEFAULT_HANDLER_MODULES, loadHandlersModule, resolveHandlersPath } from './load-handlers.js';

/** Configuration and a logger for commands whose stdout is their output (logs go to stderr). */
export function quietContext(): { config: WarrenConfig; logger: Logger } {
  const config = loadConfig();
  return { config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination(2)) };
}

/**
 * Loads the handlers module (option → `WARREN_HANDLERS` → `handlers/index.*`) into a registry, with the
 * schedules of the schedules file and of the module's `schedules` export; `whyNone` as {@link loadSchedules}'.
 */
export async function loadRegistry(
  option: string | undefined,
  config: WarrenConfig,
  cwd = process.cwd(),
): Promise<{
  registry: Registry;
  path: string;
  schedules: ScheduleDefinition[];
  middleware: readonly JobMiddleware[];
  whyNone: string;
}> {
  const path = resolveHandlersPath(option ?? (config.handlers || undefined), cwd);
  const module = await loadHandlersModule(path);
  const registry = new Registry().add(module.handlers);
  const schedules = mergeSchedules(loadSchedulesFile(config.schedules, cwd), module.schedules);
  return { registry, path, schedules, middleware: module.middleware, whyNone: whyNoSchedules(config, path, cwd) };
}

/**
 * The schedules of the schedules file and, when there is one, of the handlers module (option → `WARREN_HANDLERS` →
 * `handlers/index.*`); `whyNone` says where they were looked for, for when there are none.
 */
export async function loadSchedules(
  option: string | undefined,
  config: WarrenConfig,
  cwd = process.cwd(),
): Promise<{ schedules: ScheduleDefinition[]; whyNone: string }> {
  const given = option ?? (config.handlers || undefined);
  const found = given !== undefined || DEFAULT_HANDLER_MODULES.some((candidate) => existsSync(resolve(cwd, candidate)));
  const modulePath = found ? resolveHandlersPath(given, cwd) : undefined;
  const fromModule = modulePath === undefined ? [] : (await loadHandlersModule(modulePath)).schedules;
  const schedules = mergeSchedules(loadSchedulesFile(config.schedules, cwd), fromModule);
  return { schedules, whyNone: whyNoSchedules(config, modulePath, cwd) };
}

/**
 * The registry and schedules of the handlers module when there is one (option → `WARREN_HANDLERS` →
 * `handlers/index.*`), else an empty registry and the schedules file's: for commands that work without handlers
 * (`warren ui`). `path` is the module's, when one was loaded.
 */
export async function loadRegistryIfAny(
  option: string | undefined,
  config: WarrenConfig,
  cwd = process.cwd(),
): Promise<{ registry: Registry; schedules: ScheduleDefinition[]; path: string | undefined }> {
  const given = option ?? (config.handlers || undefined);
  const found = given !== undefined || DEFAULT_HANDLER_MODULES.some((candidate) => existsSync(resolve(cwd, candidate)));
  if (found) {
    const { registry, schedules, path } = await loadRegistry(option, config, cwd);
    return { registry, schedules, path };
  }
  return { registry: new Registry(), schedules: loadSchedulesFile(config.schedules, cwd), path: undefined };
}

/** Where schedules were looked for, for a message that there are none. */
function whyNoSchedules(config: WarrenConfig, modulePath: string | undefined, cwd: string): string {
  const file = resolve(cwd, config.schedules || DEFAULT_SCHEDULES_FILE);
  const fromFile = config.schedules
    ? `the schedules file ${file} (WARREN_SCHEDULES) holds none`
    : existsSync(file)
      ? `the schedules file ${file} holds none`
      : `there is no schedules file ${file}`;
  const fromHandlers =
    modulePath === undefined
      ? `no handlers module was found (looked for ${DEFAULT_HANDLER_MODULES.join(', ')} under ${cwd})`
      : `the handlers module ${modulePath} exports no \`schedules\``;
  return `${fromFile}, and ${fromHandlers}`;
}

/**
 * Checks a job type given on the command line the way a worker checks a registered one, before anything connects.
 * @throws ConfigError naming it
 */
export function requireValidJobType(jobType: string): void {
  const invalid = invalidJobType(jobType);
  if (invalid !== undefined) throw new ConfigError(invalid);
}

/** Prints a failed attempt to connect as one line on stderr (the driver's error is in the log at `debug`). */
export function printConnectRetry(retry: ConnectRetry): void {
  process.stderr.write(`warren: ${formatConnectRetry(retry)}\n`);
}

/** `<why>; retrying (attempt 3, 4 s of 15 s)`. */
export function formatConnectRetry({ attempt, elapsedMs, timeoutMs, error }: ConnectRetry): string {
  const why = error.message;
  const retrying = /[.?!]$/.test(why) ? ' Retrying' : '; retrying';
  return `${why}${retrying} (attempt ${attempt}, ${Math.round(elapsedMs / 1_000)} s of ${Math.round(timeoutMs / 1_000)} s)`;
}
