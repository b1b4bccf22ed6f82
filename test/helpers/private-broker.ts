import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The RabbitMQ versions a private node can run. */
export type PrivateBrokerVersion = '3.10' | '4.0';

/**
 * A RabbitMQ node of a test's own, on ports of its own, for faults that must not touch the shared broker
 * (stop_app/start_app, crash loops). It runs the server's `rabbitmq-server` script directly, with its own
 * HOME, node name, data, log and config paths, no plugins, and listens on 127.0.0.1 only: 3.10 is the machine's
 * own server, 4.0 the one in the Debian 13 tree of `.ci/rabbitmq4`, run there with chroot.
 */
export interface PrivateBroker {
  /** Which server runs the node. */
  readonly version: PrivateBrokerVersion;
  /** `amqp://guest:guest@127.0.0.1:<port>` (guest may log in over loopback on a fresh node). */
  readonly url: string;
  /** Erlang node name, e.g. `warren-test-1a2b3c4d@localhost`. */
  readonly nodeName: string;
  /** AMQP port. */
  readonly port: number;
  /** Erlang distribution port (`rabbitmqctl -n <nodeName>` talks to it). */
  readonly distPort: number;
  /** How long the node took to boot, in milliseconds. */
  readonly bootMs: number;
  /** Runs `rabbitmqctl -n <nodeName> …args` (time-bounded) and resolves with its stdout. */
  ctl(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** `rabbitmqctl stop_app`: closes every client connection and stops the broker, keeping the Erlang node up. */
  stopApp(): Promise<void>;
  /** `rabbitmqctl start_app`, then waits until the AMQP port accepts connections again. */
  startApp(): Promise<void>;
  /** The last lines of the node's log, for failure messages. */
  logTail(lines?: number): string;
  /** Stops the node (`rabbitmqctl stop`, then SIGKILL of its process group if needed) and deletes its files. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPrivateBroker}. */
export interface PrivateBrokerOptions {
  /**
   * Which server to run: the machine's 3.10, or the 4.0 of the Debian 13 tree at `$WARREN_RABBITMQ4_ROOT`
   * (default `/var/cache/warren-ci/rabbitmq4-trixie`, built by `bash .ci/rabbitmq4 start`; needs root).
   * @defaultValue '3.10'
   */
  readonly version?: PrivateBrokerVersion;
  /** How long boot may take before it fails (and the node is killed). @defaultValue 60000 */
  readonly bootTimeoutMs?: number;
  /** Extra lines for the node's rabbitmq.conf. */
  readonly config?: readonly string[];
  /**
   * The node's advanced.config (Erlang terms), for settings rabbitmq.conf has no key for, e.g.
   * `[{rabbit, [{channel_tick_interval, 1000}]}].`
   */
  readonly advancedConfig?: string;
  /** AMQP port. @defaultValue a free one, picked by the OS */
  readonly port?: number;
  /** Erlang distribution port. @defaultValue a free one, picked by the OS */
  readonly distPort?: number;
}

/** Boot failed because a port was taken between picking it and binding it: worth another try with new ports. */
class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}

/** Boot attempts when a picked port turns out to be taken. */
const BOOT_ATTEMPTS = 3;

const SERVER_ROOT = '/usr/lib/rabbitmq/lib';
/** Where `.ci/rabbitmq4` builds the Debian 13 tree (same variable, same default). */
const RABBITMQ4_ROOT_DEFAULT = '/var/cache/warren-ci/rabbitmq4-trixie';
/** The 4.0 server's scripts, inside the tree. */
const RABBITMQ4_BIN = '/usr/lib/rabbitmq/bin';
/** PATH of a process inside the tree. */
const RABBITMQ4_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const SYSTEM_COOKIE = '/var/lib/rabbitmq/.erlang.cookie';
/** rabbitmqctl itself listens on 35672-35682 (RABBITMQ_CTL_DIST_PORT_MIN/MAX); never hand those out. */
const CTL_PORTS = { min: 35_672, max: 35_682 };
const CTL_TIMEOUT_MS = 30_000;
/** A node's directory: `<tmpdir>/warren-broker-XXXXXX`, holding the pid of the test process that owns it. */
const DIR_PREFIX = 'warren-broker-';
const OWNER_FILE = 'owner.pid';
const PID_FILE = 'rabbitmq.pid';
/** What the node logs when its AMQP or distribution port is taken. */
const PORT_TAKEN = /eaddrinuse|dist_port_already_used/i;

/** The `sbin` directory of the newest installed 3.10 server (any version if there is no 3.10). */
export function rabbitmqSbin(): string {
  const servers = existsSync(SERVER_ROOT)
    ? readdirSync(SERVER_ROOT).filter((name) => name.startsWith('rabbitmq_server-'))
    : [];
  const version = (name: string): number[] => name.slice('rabbitmq_server-'.length).split('.').map(Number);
  const newestFirst = servers.sort((a, b) => {
    const [va, vb] = [version(a), version(b)];
    for (let i = 0; i < Math.max(va.length, vb.length); i += 1) {
      const diff = (vb[i] ?? 0) - (va[i] ?? 0);
      if (diff !== 0) return diff;
    }
    return 0;
  });
  const chosen = newestFirst.find((name) => name.startsWith('rabbitmq_server-3.10.')) ?? newestFirst[0];
  if (chosen === undefined) throw new Error(`no RabbitMQ server under ${SERVER_ROOT}/rabbitmq_server-*`);
  return join(SERVER_ROOT, chosen, 'sbin');
}

/** The Debian 13 tree that holds the 4.0 server: `$WARREN_RABBITMQ4_ROOT`, as `.ci/rabbitmq4` has it. */
export function rabbitmq4Root(): string {
  const root = process.env['WARREN_RABBITMQ4_ROOT'];
  // Absolute and without a trailing slash: paths inside the tree are this prefix cut off, and /proc/self/mountinfo
  // names mount points absolutely.
  return resolve(root !== undefined && root !== '' ? root : RABBITMQ4_ROOT_DEFAULT);
}

/**
 * The versions chaos tests run over (`describe.each(privateBrokerVersions())`): the comma-separated list in
 * `WARREN_PRIVATE_BROKER_VERSIONS` (`.ci/run` sets `3.10,4.0`, so that a missing 4.0 tree fails there, saying how to
 * build it); without it, 3.10 and, when its tree exists, 4.0. On a machine without the tree, `npm test` passes on
 * 3.10 alone and says once, on stderr, that the 4.0 chaos tests did not run and how to include them.
 */
export function privateBrokerVersions(): readonly PrivateBrokerVersion[] {
  const all: readonly PrivateBrokerVersion[] = ['3.10', '4.0'];
  const wanted = process.env['WARREN_PRIVATE_BROKER_VERSIONS'];
  if (wanted === undefined || wanted.trim() === '') {
    if (existsSync(join(rabbitmq4Root(), RABBITMQ4_BIN, 'rabbitmq-server'))) return all;
    if (!warnedNoTree) {
      warnedNoTree = true;
      process.stderr.write(
        `chaos tests on private nodes: RabbitMQ 3.10 only, no RabbitMQ 4.0 tree at ${rabbitmq4Root()}; ` +
          '`sudo bash .ci/rabbitmq4 start` builds it (once), and WARREN_PRIVATE_BROKER_VERSIONS=3.10,4.0 requires it\n',
      );
    }
    return ['3.10'];
  }
  const listed = wanted.split(',').map((version) => version.trim());
  const unknown = listed.filter((version) => !all.includes(version as PrivateBrokerVersion));
  if (unknown.length > 0)
    throw new Error(`WARREN_PRIVATE_BROKER_VERSIONS: expected some of ${all.join(', ')}, got ${unknown.join(', ')}`);
  return all.filter((version) => listed.includes(version));
}

let warnedNoTree = false;

/** How one version's server is run: where its node directories live and how its scripts are started. */
interface Flavour {
  readonly version: PrivateBrokerVersion;
  /** The (host) directory that holds the node directories. */
  readonly parent: string;
  /** The path the node sees for a host path under `parent`. */
  inside(hostPath: string): string;
  /** The command line that runs one of the server's scripts with exactly `env`. */
  command(
    script: 'rabbitmq-server' | 'rabbitmqctl',
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ): { file: string; args: string[]; env: NodeJS.ProcessEnv };
}

/** The machine's own 3.10 server, run directly. */
function flavour310(): Flavour {
  const sbin = rabbitmqSbin();
  return {
    version: '3.10',
    parent: tmpdir(),
    inside: (hostPath) => hostPath,
    command: (script, args, env) => ({ file: join(sbin, script), args: [...args], env }),
  };
}

/** True when something is mounted on `path` (an entry of this process's mount table). */
function isMountPoint(path: string): boolean {
  // /proc/self/mountinfo: "id parent major:minor root mount-point options …", spaces in paths written as \040.
  return readOr('/proc/self/mountinfo')
    .split('\n')
    .some((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') === path);
}

/**
 * The 4.0 server of the Debian 13 tree, run inside it with chroot (so it needs root), as `.ci/rabbitmq4` runs
 * the shared 4.0 node; node directories go under the tree's /tmp, which the node sees as /tmp.
 */
async function flavour40(): Promise<Flavour> {
  const root = rabbitmq4Root();
  if (!existsSync(join(root, RABBITMQ4_BIN, 'rabbitmq-server')))
    throw new Error(
      `no RabbitMQ 4.0 tree at ${root} (${join(root, RABBITMQ4_BIN, 'rabbitmq-server')} is missing): build it ` +
        'with `bash .ci/rabbitmq4 start` (as root; debootstrap of Debian 13 and apt-get install rabbitmq-server, ' +
        'a few minutes, once; it also starts the shared 4.0 node on 5674), or point WARREN_RABBITMQ4_ROOT at one',
    );
  if (process.getuid?.() !== 0)
    throw new Error(`a private RabbitMQ 4.0 node runs inside ${root} with chroot, which needs root`);
  // Erlang needs /proc. Mounted once and left mounted, as .ci/rabbitmq4 leaves it: the shared 4.0 node in the
  // same tree may be using it, and the next node will need it again.
  const proc = join(root, 'proc');
  if (!isMountPoint(proc)) await runBounded('mount', ['-t', 'proc', 'proc', proc], process.env, 10_000);
  const parent = join(root, 'tmp');
  return {
    version: '4.0',
    parent,
    inside: (hostPath) => hostPath.slice(root.length),
    command: (script, args, env) => ({
      file: 'chroot',
      // env -i: inside the tree the process gets exactly `env`, with the tree's PATH.
      args: [
        root,
        '/usr/bin/env',
        '-i',
        ...Object.entries({ ...env, PATH: RABBITMQ4_PATH }).map(([key, value]) => `${key}=${value ?? ''}`),
        join(RABBITMQ4_BIN, script),
        ...args,
      ],
      env: { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' },
    }),
  };
}

function flavour(version: PrivateBrokerVersion): Flavour | Promise<Flavour> {
  return version === '4.0' ? flavour40() : flavour310();
}

/** A TCP port nothing listens on right now (the OS picks it), outside rabbitmqctl's own range. */
async function freePort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: picked } = server.address() as AddressInfo;
        server.close(() => resolve(picked));
      });
    });
    if (!taken.has(port) && (port < CTL_PORTS.min || port > CTL_PORTS.max)) return port;
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The system's Erlang cookie (so the node can also be reached with the system's rabbitmqctl), else a fresh one. */
function erlangCookie(): string {
  for (const file of [SYSTEM_COOKIE, join(homedir(), '.erlang.cookie')]) {
    try {
      const cookie = readFileSync(file, 'utf8').trim();
      if (cookie !== '') return cookie;
    } catch {
      // Not readable by this user: try the next one.
    }
  }
  return randomBytes(16).toString('hex').toUpperCase();
}

/** Runs a command with a deadline; rejects with its output on a non-zero exit, naming it `label`. */
function runBounded(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  label = `${file.split('/').pop() ?? file} ${args.join(' ')}`,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = `${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n');
          reject(
            new Error(
              `${label} failed (${error.killed ? `killed after ${timeoutMs} ms` : `exit ${String(error.code)}`}):\n${detail}`,
            ),
          );
        } else resolve(stdout);
      },
    );
  });
}

function readOr(file: string, fallback = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** True when the process runs (a zombie, dead but not yet reaped by its parent, does not count). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return readOr(`/proc/${pid}/stat`).split(') ')[1]?.startsWith('Z') !== true;
}

/**
 * Kills the nodes of test processes that died without stopping them (killed by a signal, where no exit hook
 * runs) and deletes their files, for both versions. A node is killed only if its VM's command line names that
 * node's directory (its HOME, as the node sees it).
 */
function reapOrphans(): void {
  const root = rabbitmq4Root();
  const places = [
    { parent: tmpdir(), inside: (dir: string) => dir },
    { parent: join(root, 'tmp'), inside: (dir: string) => dir.slice(root.length) },
  ];
  for (const { parent, inside } of places) {
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent).filter((entry) => entry.startsWith(DIR_PREFIX))) {
      const dir = join(parent, name);
      const owner = Number(readOr(join(dir, OWNER_FILE)).trim());
      // No owner yet (another process is creating it) or a live one: not ours to touch.
      if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
      const pid = Number(readOr(join(dir, PID_FILE)).trim());
      if (Number.isInteger(pid) && pid > 0 && readOr(`/proc/${pid}/cmdline`).split('\0').includes(inside(dir))) {
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp …": kill the whole group (the script and the VM).
        const pgrp = Number(readOr(`/proc/${pid}/stat`).split(') ')[1]?.split(' ')[2]);
        try {
          process.kill(Number.isInteger(pgrp) && pgrp > 1 ? -pgrp : pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Boots a private RabbitMQ node and resolves once it accepts AMQP connections (measured here: about 8 s on 3.10,
 * 4 s on 4.0). The node is killed when this process exits, even if `stop()` was never called; one left by a
 * process killed outright is killed by the next call.
 *
 * It registers with the machine's epmd (port 4369), which the system's RabbitMQ already runs; were none running,
 * Erlang would start one, and that daemon would outlive the node. A 4.0 node shares the machine's network from
 * inside its tree, so it uses the same epmd, and never touches the shared 4.0 node of the same tree (its own name,
 * ports, HOME and directory).
 */
export async function startPrivateBroker(options: PrivateBrokerOptions = {}): Promise<PrivateBroker> {
  reapOrphans();
  const fixedPorts = options.port !== undefined || options.distPort !== undefined;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await bootNode(options);
    } catch (error) {
      // Ports are picked free but bound only later by the node: another process may take one in between.
      if (!(error instanceof PortTakenError) || fixedPorts || attempt >= BOOT_ATTEMPTS) throw error;
    }
  }
}

async function bootNode(options: PrivateBrokerOptions): Promise<PrivateBroker> {
  const bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
  const server = await flavour(options.version ?? '3.10');
  const nodeName = `warren-test-${randomBytes(4).toString('hex')}@localhost`;
  const port = options.port ?? (await freePort(new Set([options.distPort ?? 0])));
  const distPort = options.distPort ?? (await freePort(new Set([port])));

  const dir = mkdtempSync(join(server.parent, DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  const paths = {
    cookie: join(dir, '.erlang.cookie'),
    config: join(dir, 'rabbitmq.conf'),
    advancedConfig: join(dir, 'advanced.config'),
    envConf: join(dir, 'rabbitmq-env.conf'),
    plugins: join(dir, 'enabled_plugins'),
    mnesia: join(dir, 'mnesia'),
    logs: join(dir, 'log'),
    pid: join(dir, PID_FILE),
    stdout: join(dir, 'server.out'),
  };
  mkdirSync(paths.mnesia);
  mkdirSync(paths.logs);
  // Erlang refuses a cookie file that others can read.
  writeFileSync(paths.cookie, erlangCookie(), { mode: 0o600 });
  chmodSync(paths.cookie, 0o600);
  // Always written: without one, the node would read the tree's or the machine's /etc/rabbitmq/advanced.config.
  writeFileSync(paths.advancedConfig, `${options.advancedConfig ?? '[].'}\n`);
  // No plugins: no management or prometheus listeners to collide with the shared node's.
  writeFileSync(paths.plugins, '[].\n');
  // Our own env file, so /etc/rabbitmq/rabbitmq-env.conf (NODENAME, ERL_FLAGS of the shared node) is not read.
  writeFileSync(paths.envConf, '# private test node: everything is set in the environment\n');
  writeFileSync(
    paths.config,
    [
      '# private test node',
      'loopback_users.guest = true',
      'log.console = false',
      'log.file.level = info',
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );

  // Built from scratch: no RABBITMQ_* or ERL_* setting of the caller's environment may leak in. Paths as the node
  // sees them (inside the tree for 4.0).
  const inside = server.inside;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: inside(dir),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: inside(paths.mnesia),
    RABBITMQ_LOG_BASE: inside(paths.logs),
    RABBITMQ_CONFIG_FILE: inside(paths.config),
    RABBITMQ_ADVANCED_CONFIG_FILE: inside(paths.advancedConfig),
    RABBITMQ_CONF_ENV_FILE: inside(paths.envConf),
    RABBITMQ_ENABLED_PLUGINS_FILE: inside(paths.plugins),
    RABBITMQ_PID_FILE: inside(paths.pid),
    // Distribution traffic stays on loopback, like the shared node's.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    ERL_EPMD_ADDRESS: '127.0.0.1',
    // A crash dump lands in the node's directory, deleted with it (chroot starts the 4.0 node in the tree's /).
    ERL_CRASH_DUMP: inside(join(dir, 'erl_crash.dump')),
  };

  const out = openSync(paths.stdout, 'a');
  let child: ChildProcess;
  try {
    // Its own process group, so stop() can kill the script and the Erlang VM together.
    const command = server.command('rabbitmq-server', [], env);
    child = spawn(command.file, command.args, {
      env: command.env,
      cwd: dir,
      detached: true,
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null; error?: string } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      exited = { code: null, signal: null, error: error.message };
      resolve();
    });
  });
  const killGroup = (): void => {
    // Even after the script exited: its VM may live on in the group.
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  // Last resort if the test process dies without calling stop(): never leave a node running.
  const onProcessExit = (): void => {
    killGroup();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onProcessExit);

  const ctl = (args: readonly string[], timeoutMs = CTL_TIMEOUT_MS): Promise<string> => {
    const ctlArgs = ['-n', nodeName, ...args];
    const command = server.command('rabbitmqctl', ctlArgs, env);
    return runBounded(command.file, command.args, command.env, timeoutMs, `rabbitmqctl ${ctlArgs.join(' ')}`);
  };

  const fullLog = (): string => `${readOr(paths.stdout)}\n${readOr(join(paths.logs, `${nodeName}.log`))}`.trim();
  const logTail = (lines = 30): string => fullLog().split('\n').slice(-lines).join('\n');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        try {
          await ctl(['stop'], 20_000);
        } catch {
          // Not answering: the kill below ends it.
        }
        // Unreferenced: a node gone at once must not hold the test process for the rest of the wait.
        await Promise.race([exit, sleep(10_000, undefined, { ref: false })]);
      }
      killGroup();
      await Promise.race([exit, sleep(5_000, undefined, { ref: false })]);
      process.removeListener('exit', onProcessExit);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const waitForPort = async (what: string, deadline: number): Promise<void> => {
    while (!(await accepts(port))) {
      if (exited) throw new Error(`${what}: the node exited (${JSON.stringify(exited)})`);
      if (Date.now() > deadline) throw new Error(`${what}: port ${port} did not accept connections in time`);
      await sleep(100);
    }
  };

  const started = Date.now();
  const deadline = started + bootTimeoutMs;
  try {
    // await_startup fails at once while the node is not yet registered with epmd: retry it until the deadline.
    for (;;) {
      if (exited) throw new Error(`the node exited during boot (${JSON.stringify(exited)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the node did not boot within ${bootTimeoutMs} ms`);
      try {
        await ctl(['await_startup', '--timeout', String(Math.max(1, Math.ceil(left / 1_000)))], left + 5_000);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
    await waitForPort('boot', deadline);
  } catch (error) {
    const portTaken = exited !== undefined && PORT_TAKEN.test(fullLog());
    const message = `private RabbitMQ node ${nodeName} on ports ${port}/${distPort}: ${(error as Error).message}\n--- node log ---\n${logTail()}`;
    await stop();
    throw portTaken ? new PortTakenError(message, { cause: error }) : new Error(message, { cause: error });
  }
  const bootMs = Date.now() - started;

  return {
    version: server.version,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    nodeName,
    port,
    distPort,
    bootMs,
    ctl,
    logTail,
    async stopApp() {
      await ctl(['stop_app']);
    },
    async startApp() {
      // start_app returns once the broker has started; its listener may lag a moment behind.
      await ctl(['start_app'], 60_000);
      await waitForPort('start_app', Date.now() + 30_000);
    },
    stop,
  };
}
