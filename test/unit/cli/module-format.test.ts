import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { moduleFormat } from '../../../src/cli/module-format.js';

const root = mkdtempSync(join(tmpdir(), 'warren-format-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string, packageJson?: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'handlers'), { recursive: true });
  if (packageJson !== undefined) writeFileSync(join(dir, 'package.json'), packageJson);
  return join(dir, 'handlers');
}

describe('moduleFormat', () => {
  const esm = folder('esm', '{"type":"module"}');
  const cjs = folder('cjs', '{"type":"commonjs"}');
  const untyped = folder('untyped', '{"name":"x"}');
  const broken = folder('broken', '{not json');

  it('.mjs/.mts are ES modules and .cjs/.cts CommonJS, whatever the package says', () => {
    for (const dir of [esm, cjs]) {
      expect(moduleFormat(join(dir, 'a.mjs'))).toMatchObject({ format: 'module', reason: 'a .mjs file' });
      expect(moduleFormat(join(dir, 'a.mts'))).toMatchObject({ format: 'module', reason: 'a .mts file' });
      expect(moduleFormat(join(dir, 'a.cjs'))).toMatchObject({ format: 'commonjs', reason: 'a .cjs file' });
      expect(moduleFormat(join(dir, 'a.cts'))).toMatchObject({ format: 'commonjs', reason: 'a .cts file' });
    }
  });

  it('.js/.ts follow the nearest package.json: "module" → ES module; "commonjs", no "type" or unreadable → CommonJS', () => {
    expect(moduleFormat(join(esm, 'index.ts'))).toEqual({
      format: 'module',
      extension: '.ts',
      packageJson: join(root, 'esm', 'package.json'),
      reason: `"type": "module" in ${join(root, 'esm', 'package.json')}`,
      explicit: true,
    });
    expect(moduleFormat(join(cjs, 'index.js'))).toMatchObject({
      format: 'commonjs',
      reason: `"type": "commonjs" in ${join(root, 'cjs', 'package.json')}`,
    });
    expect(moduleFormat(join(untyped, 'index.ts'))).toMatchObject({
      format: 'commonjs',
      reason: `${join(root, 'untyped', 'package.json')} sets no "type"`,
      explicit: false,
    });
    expect(moduleFormat(join(broken, 'index.js'))).toMatchObject({ format: 'commonjs' });
  });

  it('with no package.json above it, CommonJS, saying so', () => {
    expect(moduleFormat(join(folder('none'), 'index.ts'))).toEqual({
      format: 'commonjs',
      extension: '.ts',
      packageJson: undefined,
      reason: 'no package.json above it',
      explicit: false,
    });
  });

  it('the nearest package.json wins over one further up', () => {
    const inner = join(esm, 'inner');
    mkdirSync(inner);
    writeFileSync(join(inner, 'package.json'), '{"type":"commonjs"}');
    expect(moduleFormat(join(inner, 'index.js')).format).toBe('commonjs');
    expect(moduleFormat(join(esm, 'index.js')).format).toBe('module');
  });
});
