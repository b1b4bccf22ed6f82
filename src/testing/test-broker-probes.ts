import { execFile } from 'node:child_process';
import type { ProbeAnswer, TestBrokerProbes } from './choose-test-broker.js';

/** How long the AMQP probe waits for a connection to open. */
export const AMQP_PROBE_TIMEOUT_MS = 3_000;
/** How long the Redis probe waits for PING to be answered. */
export const REDIS_PROBE_TIMEOUT_MS = 2_000;
/** How long `docker info` may take (it is slow when the engine is far, or starting). */
export const DOCKER_PROBE_TIMEOUT_MS = 5_000;

/** The probes `startTestBroker` runs: a real AMQP connection, a real PING, `docker info`. */
export const REAL_PROBES: TestBrokerProbes = { amqp: probeAmqp, redis: probeRedis, docker: probeDocker };

/**
 * Opens an AMQP connection to `url` and closes it again; answers within `timeoutMs` whatever happens (a port that
 * accepts and never speaks AMQP would otherwise hold the handshake). amqplib is loaded here, on first use.
 */
export async function probeAmqp(url: string, timeoutMs = AMQP_PROBE_TIMEOUT_MS): Promise<ProbeAnswer> {
  const { default: amqplib } = await import('amqplib');
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: ProbeAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const timer = setTimeout(() => settle({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    amqplib.connect(url, { timeout: timeoutMs }).then(
      async (connection) => {
        // A connection that opened after the time was up is closed all the same.
        connection.on('error', () => {});
        await connection.close().catch(() => {});
        settle({ ok: true });
      },
      (error: unknown) => settle({ ok: false, reason: amqpReason(error) }),
    );
  });
}

/** Sends PING to Redis at `url` on a client that fails fast (no retries, no offline queue) and disconnects. */
export async function probeRedis(url: string, timeoutMs = REDIS_PROBE_TIMEOUT_MS): Promise<ProbeAnswer> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  redis.on('error', (error: unknown) => (lastError = error));
  try {
    await redis.connect();
    const reply = await redis.ping();
    return reply === 'PONG' ? { ok: true } : { ok: false, reason: `PING answered ${JSON.stringify(reply)}` };
  } catch (error) {
    return { ok: false, reason: errorReason(lastError ?? error) };
  } finally {
    redis.disconnect();
  }
}

/** Runs `docker info`: a Docker engine answers when it exits 0 within `timeoutMs` and names a server version. */
export function probeDocker(timeoutMs = DOCKER_PROBE_TIMEOUT_MS): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      ['info', '--format', '{{.ServerVersion}}'],
      { timeout: timeoutMs, windowsHide: true },
      (error, stdout, stderr) => {
        const version = String(stdout).trim();
        if (error === null && version !== '') return resolve({ ok: true });
        const code = (error as { code?: unknown } | null)?.code;
        if (code === 'ENOENT') return resolve({ ok: false, reason: 'no docker command on the PATH' });
        if (error?.killed === true) return resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` });
        const said = String(stderr).trim() || version;
        resolve({ ok: false, reason: said === '' ? (error?.message ?? 'no server version') : said });
      },
    );
  });
}

/** amqplib's error, short: the socket's code (`ECONNREFUSED`), or the broker's reply code and text (`403 ACCESS-REFUSED`). */
function amqpReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reply = /\b(\d{3}) \(([A-Z_-]+)\)/.exec(message);
  if (reply) return `${reply[1]} ${reply[2]}`;
  return errorReason(error);
}

/** An error's code when it has one (`ECONNREFUSED`), else its message. */
function errorReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code;
  return error instanceof Error ? error.message : String(error);
}
