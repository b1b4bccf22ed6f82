import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteNamespace, uniqueNamespace } from '../helpers/broker.js';
import { SHARED_REDIS_URL } from '../helpers/redis-server.js';
import { ROOT, logLines } from '../helpers/cli.js';
import { createUserProject, npm, packWarren, packedFiles, removeDir, spawnIn } from '../helpers/user-project.js';

/** The handlers module of the README's "Adding warren to your project", word for word. */
function readmeHandlers(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Adding warren to your project'));
  const block = /```ts\n([\s\S]*?)\n\s*```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md: no ts block under "Adding warren to your project"');
  return `${block
    .split('\n')
    .map((line) => line.replace(/^ {3}/, ''))
    .join('\n')}\n`;
}

const HANDLERS = readmeHandlers();

/** The test files of the README's "Testing your handlers", word for word: each block that starts with its path. */
function readmeHandlerTests(): ReadonlyMap<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Testing your handlers');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const files = new Map<string, string>();
  for (const match of section.matchAll(/```ts\n\/\/ (handlers\/[\w-]+\.test\.ts)\n([\s\S]*?)\n```/g)) {
    files.set(match[1] as string, `// ${match[1] as string}\n${match[2] as string}\n`);
  }
  if (files.size === 0) throw new Error('README.md: no handlers/*.test.ts block under "Testing your handlers"');
  return files;
}

const HANDLER_TESTS = readmeHandlerTests();

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  },
  include: ['handlers'],
};

let pack: { tarball: string; dir: string };
const dirs: string[] = [];

beforeAll(async () => {
  pack = await packWarren();
}, 60_000);

afterAll(() => {
  for (const dir of [...dirs, pack.dir]) removeDir(dir);
});

describe('the package', () => {
  it('holds the library, its types, the CLI and the docs; not the example handlers, config, tests or sources of the example app', async () => {
    const files = await packedFiles();
    for (const wanted of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/warren.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'docs/wire-contract.md',
      'docs/dead-letters.md',
      // The web UI: its entry, and the files the build copies beside it.
      'dist/src/ui/index.js',
      'dist/src/ui/assets/warren-ui.css',
      'dist/src/ui/assets/favicon.svg',
      'docs/ui.md',
    ]) {
      expect(files).toContain(wanted);
    }
    const unwanted = files.filter((file) =>
      /^(handlers|config|test|bench|docker|\.ci)\/|^dist\/(handlers|test)\/|^(tsconfig.*|vitest\.config\.ts|docker-compose\.yml)$/.test(
        file,
      ),
    );
    expect(unwanted).toEqual([]);
  });
});

describe.each([
  { kind: 'CommonJS-default (what npm init -y writes)', type: 'commonjs' as const },
  { kind: 'ESM', type: 'module' as const },
])('a new $kind project with warren installed from its tarball', ({ type }) => {
  let project: string;

  beforeAll(async () => {
    project = await createUserProject({
      tarball: pack.tarball,
      type,
      extra: ['zod', 'typescript', '@types/node', 'vitest'],
    });
    dirs.push(project);
    mkdirSync(join(project, 'handlers'));
    writeFileSync(join(project, 'handlers', 'index.ts'), HANDLERS);
    for (const [path, text] of HANDLER_TESTS) writeFileSync(join(project, path), text);
    writeFileSync(join(project, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  }, 120_000);

  it('compiles against warren’s types with skipLibCheck: false', async () => {
    const result = await npm(project, ['exec', '--offline', '--', 'tsc', '-p', '.']).catch(
      (error: { stdout?: string; stderr?: string }) => ({
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? 'failed',
      }),
    );
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
  });

  it("runs the README's handler tests with vitest: runJob, the local job queue and a broker from startTestBroker", async () => {
    expect([...HANDLER_TESTS.keys()]).toEqual([
      'handlers/greet.test.ts',
      'handlers/greet-harness.test.ts',
      'handlers/greet-both.test.ts',
    ]);
    const result = await npm(project, ['exec', '--offline', '--', 'vitest', 'run', '--reporter=verbose'], {
      NO_COLOR: '1',
      FORCE_COLOR: '0',
      // startTestBroker reads the user's variables; here they name the broker this suite runs against.
      WARREN_AMQP_URL: AMQP_URL,
      WARREN_REDIS_URL: SHARED_REDIS_URL,
    }).catch((error: { stdout?: string; stderr?: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? 'failed',
    }));
    expect(result.stdout, result.stderr).toMatch(/Tests\s+9 passed \(9\)/);
    expect(result.stdout).toMatch(
      /✓ handlers\/greet-both\.test\.ts > hello\.greet on '?RabbitMQ'? > handles a greeting/,
    );
  });

  it('loads warren/testing with require() and import() at run time, where the exports map sends them', async () => {
    const script = `(async () => {
      const required = require('warren/testing');
      const imported = await import('warren/testing');
      const result = await imported.runJob(() => {}, {});
      process.stdout.write(JSON.stringify({ same: required.runJob === imported.runJob, result }));
    })();`;
    const { stdout } = await npm(project, ['exec', '--offline', '--', 'node', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({ same: true, result: { outcome: 'success' } });
  });

  it('npx warren start runs the .ts handlers; npx warren publish sends jobs they handle; SIGTERM exits 0', async () => {
    const namespace = uniqueNamespace('install');
    const env = { WARREN_NAMESPACE: namespace };
    const worker = spawnIn(project, 'npx', ['--offline', 'warren', 'start'], env);
    try {
      await worker.waitForOutput(/"msg":"worker started"/);
      const published = await npm(
        project,
        ['exec', '--offline', '--', 'warren', 'publish', 'hello.greet', '{"name":"Ada"}', '--id', `${type}-greet-1`],
        env,
      );
      expect(published.stdout).toBe(`${type}-greet-1\n`);
      await npm(
        project,
        ['exec', '--offline', '--', 'warren', 'publish', 'hello.report', '{"n":1}', '--id', 'r-1'],
        env,
      );
      await worker.waitForOutput(/"msg":"report handled"/);
      await worker.waitForOutput(/"msg":"hello handled"/);
      const lines = logLines(worker.stdout());
      expect(lines.find((line) => line['msg'] === 'hello handled')).toMatchObject({
        jobId: `${type}-greet-1`,
        jobType: 'hello.greet',
        name: 'Ada',
      });
      expect(lines.find((line) => line['msg'] === 'report handled')).toMatchObject({ jobId: 'r-1' });
      // npx runs warren under npm and a shell; an orchestrator signals the worker itself (its pid is in the logs),
      // and npx then exits with the worker's status.
      const pid = lines.find((line) => line['msg'] === 'worker started')?.['pid'];
      expect(typeof pid).toBe('number');
      process.kill(pid as number, 'SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.output()).toMatch(/"msg":"worker stopped"/);
    } finally {
      worker.killAll();
      await worker.exited;
      await deleteNamespace(namespace, ['hello.greet', 'hello.report']);
    }
  });
});
