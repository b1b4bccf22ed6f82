import { existsSync } from 'node:fs';
import type { JobMiddleware } from '../registry/job-definition.js';
import { createRequire } from 'node:module';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TsxCjs from 'tsx/cjs/api';
import { ConfigError } from '../errors/config-error.js';
import { moduleFormat, type ModuleFormat } from './module-format.js';

/**
 * Where `warren start` looks for handlers when neither `--handlers` nor `WARREN_HANDLERS` is given, in this order:
 * compiled JavaScript before TypeScript sources.
 */
export const DEFAULT_HANDLER_MODULES = [
  'handlers/index.js',
  'handlers/index.mjs',
  'handlers/index.cjs',
  'handlers/index.ts',
  'handlers/index.mts',
  'handlers/index.cts',
] as const;

/** Extensions of modules compiled on the fly. */
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

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

/** Imports a handlers module and returns its `handlers` export. */
export async function loadHandlers(path: string): Promise<readonly unknown[]> {
  return (await loadHandlersModule(path)).handlers;
}

/**
 * A handlers module's exports: `handlers` (required), `schedules` (optional, `defineSchedule` results) and
 * `middleware` (optional, run around every handler as `worker.use()` adds it).
 *
 * The module is loaded the way Node would run it (see {@link moduleFormat}): an ES module with `import()`, a
 * CommonJS one with `require()` (which loads warren itself through Node's `require(esm)`). `.ts`, `.mts` and
 * `.cts` modules are compiled on the fly (tsx), so a project needs no build step to run its handlers. A CommonJS
 * module is never handed to `import()`: Node's loader hooks cannot load a CommonJS module that requires an ES
 * module (the `require()` it is given then fails with "not in cache" or "in a cycle").
 */
export async function loadHandlersModule(
  path: string,
): Promise<{ handlers: readonly unknown[]; schedules: readonly unknown[]; middleware: readonly JobMiddleware[] }> {
  const format = moduleFormat(path);
  let module: Record<string, unknown>;
  try {
    module = loadsAsEsm(format) ? await importModule(path) : requireModule(path);
  } catch (error) {
    throw new ConfigError(`handlers module ${path} failed to load: ${explainLoadFailure(error, format)}`, {
      cause: error,
    });
  }
  const handlers = module['handlers'];
  if (!Array.isArray(handlers)) {
    throw new ConfigError(
      `handlers module ${path} must export \`handlers\`, an array of defineJob() results and @Job classes; ` +
        (handlers === undefined ? describeExports(module) : `its \`handlers\` is ${describeValue(handlers)}`),
    );
  }
  const schedules = module['schedules'] ?? [];
  if (!Array.isArray(schedules))
    throw new ConfigError(`handlers module ${path}: \`schedules\` must be an array of defineSchedule() results`);
  const middleware: unknown = module['middleware'] ?? [];
  const notFunction = Array.isArray(middleware)
    ? middleware.findIndex((entry) => typeof entry !== 'function')
    : undefined;
  if (notFunction !== -1)
    throw new ConfigError(
      `handlers module ${path}: \`middleware\` must be an array of functions (ctx, next) => …, run around every handler; ` +
        (notFunction === undefined
          ? `it is ${describeValue(middleware)}`
          : `its entry ${notFunction} is ${describeValue((middleware as unknown[])[notFunction])}`),
    );
  return { handlers, schedules, middleware: middleware as JobMiddleware[] };
}

/**
 * Whether to load the module with `import()`: every ES module, and a `.js` file no `"type"` decided, which Node
 * itself runs through its ES module loader (an ES module if its syntax is one, top-level await included; else
 * CommonJS). A CommonJS TypeScript module is required: compiled by tsx's ES module hooks, its `require()` of warren
 * fails.
 */
function loadsAsEsm(format: ModuleFormat): boolean {
  return format.format === 'module' || (format.extension === '.js' && !format.explicit);
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  if (TYPESCRIPT.has(extname(path))) await registerEsmHooks();
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

function requireModule(path: string): Record<string, unknown> {
  if (TYPESCRIPT.has(extname(path))) registerCjsHooks();
  const exported: unknown = createRequire(import.meta.url)(path);
  return typeof exported === 'object' && exported !== null ? (exported as Record<string, unknown>) : {};
}

// tsx's hooks are process-wide (Node's module loaders), so registering them is too: once each, and only when a
// TypeScript module is loaded.
let esmHooks: Promise<void> | undefined;
let cjsHooks = false;

function registerEsmHooks(): Promise<void> {
  esmHooks ??= import('tsx/esm/api').then(({ register }) => void register());
  return esmHooks;
}

function registerCjsHooks(): void {
  if (cjsHooks) return;
  // tsx's CommonJS API is CommonJS itself: required, it is in place before the handlers module is.
  const { register } = createRequire(import.meta.url)('tsx/cjs/api') as typeof TsxCjs;
  register();
  cjsHooks = true;
}

/** The loader's error in words that say what to change, where the combination of format and syntax is the cause. */
export function explainLoadFailure(error: unknown, format: ModuleFormat): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (format.format === 'commonjs') {
    if (code === 'ERR_REQUIRE_ESM') {
      return (
        `${message}. It runs as CommonJS (${format.reason}) and requires an ES module, which needs Node 20.19 or ` +
        `later (this is Node ${process.versions.node}): upgrade Node, or make the handlers module an ES module ` +
        `(${esmRename(format)})`
      );
    }
    if (code === 'ERR_REQUIRE_ASYNC_MODULE') {
      return (
        `${message}. It runs as CommonJS (${format.reason}), and a CommonJS module cannot require an ES module ` +
        `that uses top-level await: make the handlers module an ES module (${esmRename(format)})`
      );
    }
    if (/Top-level await/i.test(message)) {
      return (
        `${message}. It uses top-level await, which only an ES module can, but runs as CommonJS ` +
        `(${format.reason}): ${esmRename(format)}`
      );
    }
    if (/Cannot use import statement|Unexpected token 'export'|import\.meta/i.test(message)) {
      return (
        `${message}. It uses ES module syntax but runs as CommonJS (${format.reason}): ` +
        `${esmRename(format)}, or write it with require()/module.exports`
      );
    }
  }
  return message;
}

/** How to make a module that runs as CommonJS run as an ES module instead. */
function esmRename(format: ModuleFormat): string {
  const ext = format.extension === '.ts' || format.extension === '.cts' ? '.mts' : '.mjs';
  if (format.extension === '.cts' || format.extension === '.cjs') return `rename it to ${ext}`;
  return format.packageJson === undefined
    ? `rename it to ${ext}, or add a package.json with "type": "module"`
    : `rename it to ${ext}, or set "type": "module" in ${format.packageJson}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'object'
    ? `an object with keys ${Object.keys(value).join(', ') || '(none)'}`
    : `a ${typeof value}`;
}

function describeExports(module: Record<string, unknown>): string {
  // `module.exports = [...]` (or `export default [...]`): the array is right, only its name is missing.
  const whole = Array.isArray(module) ? module : Array.isArray(module['default']) ? module['default'] : undefined;
  if (whole !== undefined)
    return `it exports an array of ${whole.length} as the module itself; name it: \`exports.handlers = [...]\` (CommonJS) or \`export const handlers = [...]\``;
  const keys = Object.keys(module);
  return `it exports ${keys.length === 0 ? 'nothing' : keys.join(', ')}`;
}
