import type { Logger } from 'pino';
import { pino } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logging/logger.js';
import { Registry } from '../registry/registry.js';
import { loadHandlers, resolveHandlersPath } from './load-handlers.js';

/** Configuration and a logger for commands whose stdout is their output (logs go to stderr). */
export function quietContext(): { config: WarrenConfig; logger: Logger } {
  const config = loadConfig();
  return { config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination(2)) };
}

/** Loads the handlers module (option → `WARREN_HANDLERS` → `handlers/index.*`) into a registry. */
export async function loadRegistry(option: string | undefined, config: WarrenConfig): Promise<{ registry: Registry; path: string }> {
  const path = resolveHandlersPath(option ?? (config.handlers || undefined), process.cwd());
  const registry = new Registry().add(await loadHandlers(path));
  return { registry, path };
}
