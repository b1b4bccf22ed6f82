import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { AMQP_URL, waitFor } from './broker.js';
import { ROOT } from './cli.js';

const run = promisify(execFile);

/** npm, quiet and never asking the network: everything comes from the cache `npm ci` filled for the checkout. */
export async function npm(
  cwd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return run('npm', ['--no-audit', '--no-fund', '--loglevel=error', ...args], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, WARREN_AMQP_URL: AMQP_URL, npm_config_update_notifier: 'false', ...env },
  });
}

/**
 * `npm pack` of the checkout into a new temporary folder, without running `prepare` (the build `npm test` made is
 * packed: rebuilding `dist/` here would rewrite files other tests are running).
 */
export async function packWarren(): Promise<{ tarball: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-pack-'));
  const { stdout } = await npm(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  if (!packed) throw new Error(`npm pack printed no file: ${stdout}`);
  return { tarball: join(dir, basename(packed.filename)), dir };
}

/** The files `npm pack` would put in the package, as paths inside it. */
export async function packedFiles(): Promise<string[]> {
  const { stdout } = await npm(ROOT, ['pack', '--ignore-scripts', '--dry-run', '--json']);
  const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return (packed?.files ?? []).map((file) => file.path).sort();
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * A user's project that installed the warren tarball (`npm install ./warren-x.y.z.tgz`) and `extra` packages from
 * the registry. Its lock file pins the versions the checkout is tested with, taken from the checkout's own lock
 * file, so `npm ci --offline` installs it from the npm cache alone: the test needs no network, and what is tested
 * is the tarball, not whatever the registry holds today.
 */
export async function createUserProject(options: {
  tarball: string;
  /** The package's `"type"`; `undefined` writes none. */
  type: 'commonjs' | 'module' | undefined;
  /** Packages the user adds themselves (zod, typescript, …), at the checkout's versions. */
  extra?: readonly string[];
}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-user-'));
  const tarballName = basename(options.tarball);
  writeFileSync(join(dir, tarballName), readFileSync(options.tarball));

  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const closure = dependencyClosure(lock.packages, [...Object.keys(own.dependencies), ...(options.extra ?? [])]);
  const extraVersions = Object.fromEntries(
    (options.extra ?? []).map((name) => [name, lock.packages[`node_modules/${name}`]?.version ?? 'missing']),
  );
  const dependencies = { warren: `file:${tarballName}`, ...extraVersions };
  const manifest = {
    name: 'user-app',
    version: '1.0.0',
    private: true,
    ...(options.type === undefined ? {} : { type: options.type }),
    dependencies,
  };
  const userLock = {
    name: 'user-app',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'user-app', version: '1.0.0', dependencies },
      ...closure,
      'node_modules/warren': {
        version: own.version,
        resolved: `file:${tarballName}`,
        integrity: `sha512-${createHash('sha512').update(readFileSync(options.tarball)).digest('base64')}`,
        license: own.license,
        dependencies: own.dependencies,
        bin: own.bin,
        engines: own.engines,
      },
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(userLock, null, 2)}\n`);
  await npm(dir, ['ci', '--offline']);
  return dir;
}

/** The lock entries of `roots` and everything they depend on, resolved the way Node resolves them. */
function dependencyClosure(packages: Record<string, LockEntry>, roots: readonly string[]): Record<string, LockEntry> {
  const found: Record<string, LockEntry> = {};
  const locate = (from: string, name: string): string => {
    for (let dir = from; ;) {
      const path = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
      if (packages[path]) return path;
      if (dir === '') throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}`);
      const parent = dir.lastIndexOf('/node_modules/');
      dir = parent < 0 ? '' : dir.slice(0, parent);
    }
  };
  const visit = (path: string): void => {
    if (found[path]) return;
    // The user installs these as regular dependencies, whatever role they play in the checkout.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = packages[path] as LockEntry;
    found[path] = entry;
    for (const name of Object.keys(entry.dependencies ?? {})) visit(locate(path, name));
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      // Optional platform packages (esbuild's) exist in the lock only for the platforms that were installed.
      try {
        visit(locate(path, name));
      } catch {
        // not for this platform
      }
    }
  };
  for (const name of roots) visit(locate('', name));
  return found;
}

/** A process started in a user's project, with its output collected. */
export interface UserProcess {
  readonly child: ChildProcess;
  /** stdout and stderr, interleaved as they came. */
  readonly output: () => string;
  readonly stdout: () => string;
  readonly exited: Promise<number | string>;
  /** SIGKILLs the process and everything it started. */
  killAll(): void;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `command args…` in `cwd` with the test broker's URL and a free HTTP port. */
export function spawnIn(
  cwd: string,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): UserProcess {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, WARREN_AMQP_URL: AMQP_URL, WARREN_HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: `npx` runs warren under npm and a shell, and a SIGKILL of npx alone would leave the
    // worker running (and re-declaring the queues a test deletes).
    detached: true,
  });
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    child,
    killAll: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    },
    output: () => output,
    stdout: () => stdout,
    exited,
    waitForOutput: (pattern, timeoutMs = 30_000) =>
      waitFor(
        `output matching ${pattern}`,
        () => {
          if (pattern.test(output)) return true;
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(
              `exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}: ${output.slice(-1500)}`,
            );
          }
          return false;
        },
        timeoutMs,
      ),
  };
}

/** Removes a temporary folder made by the helpers above. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
