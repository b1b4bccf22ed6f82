import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explainLoadFailure, loadHandlersModule } from '../../../src/cli/load-handlers.js';
import { moduleFormat } from '../../../src/cli/module-format.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function module(name: string, code: string): string {
  const path = join(dir, name);
  writeFileSync(path, code);
  return path;
}

describe('loadHandlersModule', () => {
  it('reads `handlers` and `schedules` of an ES module and of a CommonJS module', async () => {
    const esm = module('ok.mjs', 'export const handlers = []; export const schedules = [];');
    await expect(loadHandlersModule(esm)).resolves.toEqual({ handlers: [], schedules: [], middleware: [] });
    const cjs = module('ok.cjs', 'exports.handlers = []; exports.middleware = [(ctx, next) => next()];');
    const loaded = await loadHandlersModule(cjs);
    expect(loaded.middleware).toHaveLength(1);
    expect(typeof loaded.middleware[0]).toBe('function');
  });

  it('says what the module exports when `handlers` is missing, and what it is when it is no array', async () => {
    await expect(loadHandlersModule(module('typo.mjs', 'export const handler = [];'))).rejects.toThrow(
      /must export `handlers`, an array of defineJob\(\) results and @Job classes; it exports handler$/,
    );
    await expect(loadHandlersModule(module('number.cjs', 'exports.handlers = 3;'))).rejects.toThrow(
      /its `handlers` is a number$/,
    );
    await expect(loadHandlersModule(module('nothing.cjs', ''))).rejects.toThrow(/it exports nothing$/);
    // The array itself as the module: named in the message, with the line that fixes it.
    for (const [name, code] of [
      ['bare.cjs', 'module.exports = [1, 2];'],
      ['bare-default.mjs', 'export default [1, 2];'],
    ] as const)
      await expect(loadHandlersModule(module(name, code))).rejects.toThrow(
        /; it exports an array of 2 as the module itself; name it: `exports.handlers = \[\.\.\.\]` \(CommonJS\) or `export const handlers = \[\.\.\.\]`$/,
      );
    await expect(
      loadHandlersModule(module('schedules.mjs', 'export const handlers = []; export const schedules = {};')),
    ).rejects.toThrow(/`schedules` must be an array of defineSchedule\(\) results/);
    await expect(
      loadHandlersModule(module('middleware.mjs', 'export const handlers = []; export const middleware = [1];')),
    ).rejects.toThrow(
      /`middleware` must be an array of functions \(ctx, next\) => …, run around every handler; its entry 0 is a number$/,
    );
  });

  it('wraps what the module throws, naming the module and keeping the cause', async () => {
    const path = module('throws.mjs', 'throw new Error("database URL missing");');
    const error = (await loadHandlersModule(path).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code: string };
    expect(error.message).toBe(`handlers module ${path} failed to load: database URL missing`);
    expect(error.code).toBe('WARREN_ERR_CONFIG');
    expect((error.cause as Error).message).toBe('database URL missing');
  });
});

describe('explainLoadFailure', () => {
  const cts = moduleFormat('/app/handlers/index.cts');
  const ts = { ...moduleFormat('/app/handlers/index.ts'), packageJson: '/app/package.json', reason: 'x' };

  it('a CommonJS module on a Node without require(esm) is told to upgrade Node or become an ES module', () => {
    const error = Object.assign(new Error('require() of ES Module warren not supported'), { code: 'ERR_REQUIRE_ESM' });
    expect(explainLoadFailure(error, cts)).toBe(
      `require() of ES Module warren not supported. It runs as CommonJS (a .cts file) and requires an ES module, ` +
        `which needs Node 20.19 or later (this is Node ${process.versions.node}): upgrade Node, or make the handlers ` +
        `module an ES module (rename it to .mts)`,
    );
  });

  it('a CommonJS module that requires a module with top-level await is told to become an ES module', () => {
    const error = Object.assign(new Error('require() cannot be used on an ESM graph with top-level await'), {
      code: 'ERR_REQUIRE_ASYNC_MODULE',
    });
    expect(explainLoadFailure(error, ts)).toMatch(
      /cannot require an ES module that uses top-level await: make the handlers module an ES module \(rename it to \.mts, or set "type": "module" in \/app\/package\.json\)$/,
    );
  });

  it('leaves an ES module’s errors, and unrelated ones, as they are', () => {
    expect(explainLoadFailure(new Error('boom'), moduleFormat('/app/x.mjs'))).toBe('boom');
    expect(explainLoadFailure(new Error('boom'), cts)).toBe('boom');
    expect(explainLoadFailure('a string', cts)).toBe('a string');
  });
});
