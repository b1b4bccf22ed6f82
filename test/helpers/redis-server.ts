import { deleteRedisKeys } from '../../src/testing/clean-test-namespace.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/**
 * A redis-server of a test's own, on a port of its own, for faults that must not touch the shared Redis: pause it
 * (SIGSTOP: connections stay open, commands get no answer), kill it and start it again on the same port. No
 * persistence: a restarted server is empty.
 */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the running server (changes on {@link start}). */
  readonly pid: number | undefined;
  /** SIGSTOP: the server keeps its sockets but answers nothing until {@link resume}. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL, then waits for the process to be gone: connections are refused until {@link start}. */
  kill(): Promise<void>;
  /** Starts a (new, empty) server on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Kills the server if it runs. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** @defaultValue a free port, picked by the OS */
  readonly port?: number;
  /** How long the server may take to answer PING. @defaultValue 10000 */
  readonly startTimeoutMs?: number;
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True when the server on `port` answers PING within a second. */
export function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

/**
 * Starts `redis-server --port <port> --save "" --appendonly no --daemonize no` on 127.0.0.1 and resolves once it
 * answers PING. The server is killed when this process exits, even if `stop()` was never called.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const killNow = (): void => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        // A stopped process does not act on SIGKILL any slower, but SIGCONT first keeps `ps` tidy.
        process.kill(child.pid, 'SIGCONT');
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', killNow);

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null)
      throw new Error(`redis-server on port ${port} is already running`);
    output = '';
    const spawned = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = spawned;
    spawned.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    spawned.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise<void>((resolve) => {
      spawned.once('exit', () => resolve());
      spawned.once('error', (error) => {
        output += `\n${error.message}`;
        resolve();
      });
    });
    const deadline = Date.now() + startTimeoutMs;
    while (!(await answersPing(port))) {
      if (spawned.exitCode !== null || spawned.signalCode !== null)
        throw new Error(`redis-server on port ${port} exited: ${output.trim()}`);
      if (Date.now() > deadline) {
        killNow();
        throw new Error(
          `redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms: ${output.trim()}`,
        );
      }
      await sleep(50);
    }
  };

  const kill = async (): Promise<void> => {
    killNow();
    await Promise.race([exited, sleep(5_000)]);
  };

  let stopping: Promise<void> | undefined;
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    pause() {
      if (child?.pid !== undefined) process.kill(child.pid, 'SIGSTOP');
    },
    resume() {
      if (child?.pid !== undefined) process.kill(child.pid, 'SIGCONT');
    },
    kill,
    start,
    stop() {
      stopping ??= kill().finally(() => process.removeListener('exit', killNow));
      return stopping;
    },
  };
}

/** The shared Redis of the test machine (never stopped or flushed by a test: keys are per namespace). */
export const SHARED_REDIS_URL = process.env['WARREN_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A plain ioredis client on the shared Redis, for inspection and setup; disconnect it afterwards. */
export function sharedRedis(url = SHARED_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000 });
}

/** Deletes every key of a namespace (`<namespace>:*`) from a Redis, by SCAN: never a flush (startTestBroker's own cleanup). */
export function deleteRedisNamespace(namespace: string, url = SHARED_REDIS_URL): Promise<number> {
  return deleteRedisKeys(url, namespace);
}
