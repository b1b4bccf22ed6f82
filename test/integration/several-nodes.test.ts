import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { WarrenClient, type ConnectRetry } from 'warren';
import { connectionOrder, nodeOf, processSeed } from '../../src/config/broker-urls.js';
import { AMQP_URL, memoryLogger, testConfig } from '../helpers/broker.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const GOOD_NODE = nodeOf(AMQP_URL);
const DOWN = 'amqp://guest:s3cret@127.0.0.1:9';

/** The two URLs arranged so that this process tries `first` first (see connectionOrder). */
function listStartingAt(first: string, other: string): string {
  const seed = processSeed(hostname(), process.pid);
  const [tried] = connectionOrder([first, other], seed);
  return tried === first ? `${first},${other}` : `${other},${first}`;
}

describe('a client given several broker nodes', () => {
  it('tries the node this process starts at, and moves on to the next when it does not answer', async () => {
    const retries: ConnectRetry[] = [];
    const config = testConfig({ amqpUrl: listStartingAt(DOWN, AMQP_URL) });
    const client = new WarrenClient({ config, logger: memoryLogger().logger, onConnectRetry: (r) => retries.push(r) });
    cleanups.push(() => client.close());
    await client.start();
    expect(client.node).toBe(GOOD_NODE);
    // The down node was tried first, and said so without its password.
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]?.error.message).toContain('127.0.0.1:9');
    expect(retries.map((r) => r.error.message).join('\n')).not.toContain('s3cret');
  });

  it('starts at the node its seed picks when both answer', async () => {
    const retries: ConnectRetry[] = [];
    const config = testConfig({ amqpUrl: listStartingAt(AMQP_URL, DOWN) });
    const client = new WarrenClient({ config, logger: memoryLogger().logger, onConnectRetry: (r) => retries.push(r) });
    cleanups.push(() => client.close());
    await client.start();
    expect(client.node).toBe(GOOD_NODE);
    expect(retries).toEqual([]);
  });

  it('names every node, passwords hidden, when none answers', async () => {
    const config = testConfig({ amqpUrl: 'amqp://guest:s3cret@127.0.0.1:9,amqp://guest:s3cret@127.0.0.1:19' });
    const client = new WarrenClient({
      config,
      logger: memoryLogger().logger,
      connectTimeoutMs: 2_500,
      onConnectRetry: () => {},
    });
    const failure = await client.start().then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    // Named in the order this process tries them (it starts at a node picked by its host and pid).
    const tried = connectionOrder(['127.0.0.1:9', '127.0.0.1:19'], processSeed(hostname(), process.pid));
    expect(failure?.message).toContain(
      `could not connect to any of ${tried.map((node) => `amqp://guest:***@${node}`).join(', ')} within 2500 ms: nothing is listening for AMQP at 127.0.0.1:`,
    );
    expect(failure?.message).not.toContain('s3cret');
  });
});
