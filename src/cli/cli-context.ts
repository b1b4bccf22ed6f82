import type { Logger } from 'pino';
import { pino } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logging/logger.js';
import { Registry } from '../registry/registry.js';
import { loadSchedulesFile, mergeSchedules } from '../scheduler/load-schedules.js';
import type { ScheduleDefinition } from '../scheduler/schedule-definition.js';
import { loadHandlersModule, resolveHandlersPath } from './load-handlers.js';

/** Configuration and a logger for commands whose stdout is their output (logs go to stderr). */
export function quietContext(): { config: WarrenConfig; logger: Logger } {
  const config = loadConfig();
  return { config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination(2)) };
}

/**
 * Loads the handlers module (option → `WARREN_HANDLERS` → `handlers/index.*`) into a registry, with the
 * schedules of the schedules file and of the module's `schedules` export.
 */
export async function loadRegistry(
  option: string | undefined,
  config: WarrenConfig,
): Promise<{ registry: Registry; path: string; schedules: ScheduleDefinition[] }> {
  const path = resolveHandlersPath(option ?? (config.handlers || undefined), process.cwd());
  const module = await loadHandlersModule(path);
  const registry = new Registry().add(module.handlers);
  const schedules = mergeSchedules(loadSchedulesFile(config.schedules, process.cwd()), module.schedules);
  return { registry, path, schedules };
}
