import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors/config-error.js';

/** Where `warren start` looks for handlers when neither `--handlers` nor `WARREN_HANDLERS` is given. */
export const DEFAULT_HANDLER_MODULES = ['handlers/index.js', 'handlers/index.mjs', 'handlers/index.ts'] as const;

/** Finds the handlers module: the given path, else the first default that exists under `cwd`. */
export function resolveHandlersPath(given: string | undefined, cwd: string): string {
  if (given !== undefined && given !== '') {
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new ConfigError(`handlers module ${path} does not exist`);
    return path;
  }
  for (const candidate of DEFAULT_HANDLER_MODULES) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  throw new ConfigError(
    `no handlers module found in ${cwd} (looked for ${DEFAULT_HANDLER_MODULES.join(', ')}); pass --handlers <module> or set WARREN_HANDLERS`,
  );
}

/**
 * Imports a handlers module and returns its `handlers` export. `.ts`, `.mts` and `.cts` modules are
 * compiled on the fly (tsx), so a project needs no build step to run its handlers.
 */
export async function loadHandlers(path: string): Promise<readonly unknown[]> {
  return (await loadHandlersModule(path)).handlers;
}

/** A handlers module's exports: `handlers` (required) and `schedules` (optional, `defineSchedule` results). */
export async function loadHandlersModule(
  path: string,
): Promise<{ handlers: readonly unknown[]; schedules: readonly unknown[] }> {
  if (['.ts', '.mts', '.cts'].includes(extname(path))) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`handlers module ${path} failed to load: ${(error as Error).message}`, { cause: error });
  }
  const handlers = module['handlers'];
  if (!Array.isArray(handlers)) {
    throw new ConfigError(
      `handlers module ${path} must export \`handlers\`, an array of defineJob() results and @Job classes; it exports ${Object.keys(module).join(', ') || 'nothing'}`,
    );
  }
  const schedules = module['schedules'] ?? [];
  if (!Array.isArray(schedules))
    throw new ConfigError(`handlers module ${path}: \`schedules\` must be an array of defineSchedule() results`);
  return { handlers, schedules };
}
