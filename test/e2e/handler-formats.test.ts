import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { WarrenClient } from 'warren';
import { deleteNamespace, memoryLogger, testConfig, uniqueNamespace } from '../helpers/broker.js';
import { createUserProject, packWarren, removeDir, spawnIn } from '../helpers/user-project.js';

// A handlers module in each syntax a user would write for its format.
const IMPORT_SYNTAX = `import { defineJob } from 'warren';
export const handlers = [
  defineJob('format.check', (payload, ctx) => {
    ctx.logger.info({ payload }, 'format handled');
  }),
];
`;
const REQUIRE_SYNTAX = `const { defineJob } = require('warren');
exports.handlers = [
  defineJob('format.check', (payload, ctx) => {
    ctx.logger.info({ payload }, 'format handled');
  }),
];
`;

type Folder = 'commonjs' | 'module' | 'none';
const FOLDERS: Record<Folder, string | undefined> = {
  commonjs: '{ "name": "cjs-app", "type": "commonjs" }\n',
  module: '{ "name": "esm-app", "type": "module" }\n',
  none: undefined,
};

/** The syntax each extension is written in: TypeScript always imports; `.js` follows its package. */
function source(folder: Folder, extension: string): string {
  if (['ts', 'mts', 'cts', 'mjs'].includes(extension)) return IMPORT_SYNTAX;
  if (extension === 'cjs') return REQUIRE_SYNTAX;
  return folder === 'module' ? IMPORT_SYNTAX : REQUIRE_SYNTAX;
}

const CASES = (['commonjs', 'module', 'none'] as const).flatMap((folder) =>
  ['ts', 'mts', 'cts', 'js', 'mjs', 'cjs'].map((extension) => ({ folder, extension, code: source(folder, extension) })),
);
// With no "type" to say otherwise, a .js with import syntax is an ES module, as when Node runs it: top-level await too.
CASES.push({ folder: 'none', extension: 'js', code: IMPORT_SYNTAX });
CASES.push({ folder: 'none', extension: 'js', code: `await Promise.resolve();\n${IMPORT_SYNTAX}` });

let base: string;
let pack: { tarball: string; dir: string };
let bin: string;

beforeAll(async () => {
  pack = await packWarren();
  // warren installed in a folder; its package.json is removed so that the "none" folder has none above it either.
  base = await createUserProject({ tarball: pack.tarball, type: undefined });
  rmSync(join(base, 'package.json'));
  rmSync(join(base, 'package-lock.json'));
  bin = join(base, 'node_modules', 'warren', 'bin', 'warren.js');
  for (const [folder, manifest] of Object.entries(FOLDERS)) {
    mkdirSync(join(base, folder));
    if (manifest !== undefined) writeFileSync(join(base, folder, 'package.json'), manifest);
  }
}, 120_000);

afterAll(() => {
  removeDir(base);
  removeDir(pack.dir);
});

describe.concurrent('a handlers module of every extension in every kind of package runs a job', () => {
  it.for(
    CASES.map((c, index) => ({
      ...c,
      index,
      syntax:
        c.code === REQUIRE_SYNTAX ? 'require' : c.code === IMPORT_SYNTAX ? 'import' : 'import and top-level await',
    })),
  )('$folder package, .$extension module ($syntax syntax)', async ({ folder, extension, code, index }, { expect }) => {
    const file = `jobs-${index}.${extension}`;
    writeFileSync(join(base, folder, file), code);
    const namespace = uniqueNamespace('fmt');
    const worker = spawnIn(join(base, folder), process.execPath, [bin, 'start', '--handlers', file], {
      WARREN_NAMESPACE: namespace,
    });
    const client = new WarrenClient({ config: testConfig({ namespace }), logger: memoryLogger().logger });
    try {
      await worker.waitForOutput(/"msg":"worker started"/);
      await client.start();
      const jobId = await client.publish('format.check', { folder, extension }, { messageId: `fmt-${index}` });
      await worker.waitForOutput(new RegExp(`"jobId":"${jobId}".*"msg":"format handled"`));
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      await client.close();
      worker.killAll();
      await worker.exited;
      await deleteNamespace(namespace, ['format.check']);
    }
  });
});

describe.concurrent('a module whose syntax does not fit how Node runs it is refused with what to change', () => {
  it.for([
    {
      what: 'import syntax in a .js of a CommonJS package',
      folder: 'commonjs' as const,
      file: 'esm-syntax.js',
      code: IMPORT_SYNTAX,
      message:
        /It uses ES module syntax but runs as CommonJS \("type": "commonjs" in .*cjs-app|commonjs\/package\.json\): rename it to \.mjs, or set "type": "module" in .*package\.json, or write it with require\(\)\/module\.exports/,
    },
    {
      what: 'import syntax in a .cjs',
      folder: 'module' as const,
      file: 'esm-syntax.cjs',
      code: IMPORT_SYNTAX,
      message: /It uses ES module syntax but runs as CommonJS \(a \.cjs file\): rename it to \.mjs/,
    },
    {
      what: 'top-level await in a .ts of a CommonJS package',
      folder: 'commonjs' as const,
      file: 'tla.ts',
      code: `await Promise.resolve();\n${IMPORT_SYNTAX}`,
      message:
        /It uses top-level await, which only an ES module can, but runs as CommonJS \("type": "commonjs" in .*package\.json\): rename it to \.mts, or set "type": "module" in .*package\.json/,
    },
    {
      what: 'require() in a .js of an ESM package',
      folder: 'module' as const,
      file: 'cjs-syntax.js',
      code: REQUIRE_SYNTAX,
      message: /require is not defined in ES module scope[\s\S]*rename it to use the '\.cjs' file extension/,
    },
  ])('$what', async ({ folder, file, code, message }, { expect }) => {
    writeFileSync(join(base, folder, file), code);
    const proc = spawnIn(join(base, folder), process.execPath, [bin, 'topology', '--handlers', file]);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(new RegExp(`warren: handlers module .*${file.replace('.', '\\.')} failed to load`));
    expect(proc.output()).toMatch(message);
  });
});
