import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp, { type ChannelModel } from 'amqplib';
import { pino, type Logger } from 'pino';
import { DEFAULT_CONFIG, deadExchange, deadQueue, jobQueue, jobsExchange, type WarrenConfig } from 'warren';
import {
  DELAY_LEVELS,
  delayLevel,
  delayedExchange,
  legacyReplayLedgerQueue,
  requeueExchange,
  retryExchange,
  retryQueue,
} from '../../src/topology/names.js';

export const AMQP_URL = process.env['WARREN_TEST_AMQP_URL'] ?? DEFAULT_CONFIG.amqpUrl;
export const run = promisify(execFile);

/**
 * Where the test broker's management HTTP API is: on the AMQP port + 10000 (15672 beside 5672, 15674 beside the
 * RabbitMQ 4 broker's 5674), with the AMQP URL's credentials. `base` has no credentials and no trailing slash.
 */
export function testManagementApi(): { readonly base: string; readonly user: string; readonly password: string } {
  const amqpUrl = new URL(AMQP_URL);
  return {
    base: `http://${amqpUrl.hostname}:${Number(amqpUrl.port || 5672) + 10_000}`,
    user: decodeURIComponent(amqpUrl.username || 'guest'),
    password: decodeURIComponent(amqpUrl.password || 'guest'),
  };
}

/** A namespace no other test uses. */
export function uniqueNamespace(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Configuration for a test: a unique namespace, short timeouts, a free HTTP port. */
export function testConfig(overrides: Partial<WarrenConfig> = {}): WarrenConfig {
  return Object.freeze({
    ...DEFAULT_CONFIG,
    amqpUrl: AMQP_URL,
    namespace: uniqueNamespace(),
    httpPort: 0,
    logLevel: 'silent',
    shutdownGraceMs: 5_000,
    publishTimeoutMs: 5_000,
    heartbeatSeconds: 2,
    // One short tier and few attempts keep tests fast; tests of the retry model set their own.
    retryTiersMs: [500],
    maxAttempts: 3,
    ...overrides,
  });
}

/** A logger that keeps every line in memory (to assert on what was logged). */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/** A plain amqplib connection, for what a non-warren client does and for inspection. */
export async function rawConnection(): Promise<ChannelModel> {
  return amqp.connect(AMQP_URL);
}

/**
 * Deletes everything a namespace declared for the given job types: their queues, dead-letter queues and replay
 * ledgers, the retry tiers (the given ones and the defaults; deleting a missing queue is harmless), the delay
 * cascade and the exchanges.
 */
export async function deleteNamespace(
  namespace: string,
  jobTypes: readonly string[],
  tiersMs: readonly number[] = [],
): Promise<void> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createChannel();
    for (const jobType of jobTypes) {
      await channel.deleteQueue(jobQueue(namespace, jobType));
      await channel.deleteQueue(deadQueue(namespace, jobType));
      await channel.deleteQueue(legacyReplayLedgerQueue(namespace, jobType));
    }
    for (const delayMs of new Set([...tiersMs, 500, ...DEFAULT_CONFIG.retryTiersMs])) {
      await channel.deleteQueue(retryQueue(namespace, delayMs));
    }
    for (let level = 0; level < DELAY_LEVELS; level += 1) {
      await channel.deleteQueue(delayLevel(namespace, level));
      await channel.deleteExchange(delayLevel(namespace, level));
    }
    for (const exchange of [jobsExchange, deadExchange, retryExchange, requeueExchange, delayedExchange]) {
      await channel.deleteExchange(exchange(namespace));
    }
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Messages ready in a queue (passive declare), on the test broker or the one at `url`. */
export async function queueDepth(queue: string, url = AMQP_URL): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

/** Polls until `check` returns true, or fails after `timeoutMs` with `what`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
