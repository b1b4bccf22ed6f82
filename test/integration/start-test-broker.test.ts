import { createServer, type Server } from 'node:net';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry, WarrenClient, Worker, deadQueue, defineJob, jobQueue, jobsExchange, loadConfig } from 'warren';
import { TestBrokerUnavailableError, startTestBroker, type TestBroker } from 'warren/testing';
import { startTestBrokerWith } from '../../src/testing/start-test-broker.js';
import { REAL_PROBES, probeAmqp } from '../../src/testing/test-broker-probes.js';
import { delayLevel, retryQueue } from '../../src/topology/names.js';
import { AMQP_URL, memoryLogger, waitFor } from '../helpers/broker.js';
import { SHARED_REDIS_URL, freePort, sharedRedis } from '../helpers/redis-server.js';

/** The shared broker and Redis, as a user's CI would export them. */
const ENV = { WARREN_AMQP_URL: AMQP_URL, WARREN_REDIS_URL: SHARED_REDIS_URL };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Whether a queue or an exchange exists: a passive check, each on a fresh channel (a failed one closes it). */
async function exists(kind: 'queue' | 'exchange', name: string): Promise<boolean> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    try {
      await (kind === 'queue' ? channel.checkQueue(name) : channel.checkExchange(name));
      return true;
    } catch {
      return false;
    }
  } finally {
    await connection.close().catch(() => {});
  }
}

/** The Redis keys of a namespace on the shared Redis. */
async function redisKeys(namespace: string): Promise<string[]> {
  const redis = sharedRedis();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys;
  } finally {
    redis.disconnect();
  }
}

describe('startTestBroker on the environment path (the shared broker and Redis)', () => {
  it('returns a fresh namespace each call', async () => {
    const a = await startTestBroker({ env: ENV });
    cleanups.push(() => a.stop());
    const b = await startTestBroker({ env: ENV, prefix: 'other' });
    cleanups.push(() => b.stop());
    expect(a).toMatchObject({ source: 'environment', amqpUrl: AMQP_URL, redisUrl: SHARED_REDIS_URL });
    expect(a.namespace).toMatch(/^test-[0-9a-f]{8}$/);
    expect(b.namespace).toMatch(/^other-[0-9a-f]{8}$/);
    expect(a.namespace).not.toBe(b.namespace);
  });

  it('runs a job for a Worker and a WarrenClient started with its config; stop() deletes the namespace, once', async () => {
    const jobType = 'broker.job';
    const broker: TestBroker = await startTestBroker({ env: ENV, jobTypes: [jobType] });
    cleanups.push(() => broker.stop());
    const ns = broker.namespace;
    const handled: string[] = [];
    const { logger } = memoryLogger('warn');
    const registry = new Registry().add([
      defineJob(jobType, (_payload: { n: number }, ctx) => void handled.push(ctx.jobId), { idempotent: true }),
    ]);
    const worker = new Worker({ config: loadConfig({ overrides: broker.config }), registry, logger });
    const client = new WarrenClient({ config: broker.config, logger });
    cleanups.push(() => worker.stop());
    cleanups.push(() => client.close());
    await worker.start();
    await client.start();
    expect(client.config.namespace).toBe(ns);
    await client.publish(jobType, { n: 1 }, { messageId: 'job-1' });
    // A delayed publish declares the delay cascade as well.
    await client.publish(jobType, { n: 2 }, { messageId: 'job-2', delayMs: 1_000 });
    await waitFor('both jobs handled', () => handled.length === 2, 15_000);
    expect(handled.sort()).toEqual(['job-1', 'job-2']);
    // The de-duplication records of the idempotent job are the namespace's Redis keys.
    await waitFor('the de-duplication records', async () => (await redisKeys(ns)).length === 2, 5_000);
    const declared = {
      jobQueue: await exists('queue', jobQueue(ns, jobType)),
      deadQueue: await exists('queue', deadQueue(ns, jobType)),
      retryTier: await exists('queue', retryQueue(ns, 1_000)),
      delayLevel: await exists('queue', delayLevel(ns, 0)),
      jobsExchange: await exists('exchange', jobsExchange(ns)),
    };
    expect(declared).toEqual({
      jobQueue: true,
      deadQueue: true,
      retryTier: true,
      delayLevel: true,
      jobsExchange: true,
    });

    await client.close();
    await worker.stop();
    const stopped = broker.stop();
    expect(broker.stop()).toBe(stopped);
    await stopped;
    expect(broker.stop()).toBe(stopped);
    const left = {
      jobQueue: await exists('queue', jobQueue(ns, jobType)),
      deadQueue: await exists('queue', deadQueue(ns, jobType)),
      retryTier: await exists('queue', retryQueue(ns, 1_000)),
      delayLevel: await exists('queue', delayLevel(ns, 0)),
      jobsExchange: await exists('exchange', jobsExchange(ns)),
    };
    expect(left).toEqual({
      jobQueue: false,
      deadQueue: false,
      retryTier: false,
      delayLevel: false,
      jobsExchange: false,
    });
    expect(await redisKeys(ns)).toEqual([]);
  });
});

describe('startTestBroker when nothing answers', () => {
  const NO_DOCKER = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';
  const noDocker = {
    probes: { ...REAL_PROBES, docker: async () => ({ ok: false as const, reason: NO_DOCKER }) },
    startContainers: () => Promise.reject(new Error('no container may start here')),
  };

  it('rejects with one line when WARREN_AMQP_URL is a refused port and Docker says no', async () => {
    const port = await freePort();
    const error = await startTestBrokerWith(
      { env: { ...ENV, WARREN_AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}` } },
      noDocker,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestBrokerUnavailableError);
    expect((error as TestBrokerUnavailableError).code).toBe('WARREN_ERR_TEST_BROKER_UNAVAILABLE');
    expect((error as Error).message).toBe(
      `no RabbitMQ for tests: amqp://guest:***@127.0.0.1:${port} (WARREN_AMQP_URL) did not answer (ECONNREFUSED), ` +
        `and no Docker engine answered (docker info: ${NO_DOCKER}); start RabbitMQ (and Redis) and set ` +
        'WARREN_AMQP_URL / WARREN_REDIS_URL, or install Docker',
    );
  });

  it('says so precisely when RabbitMQ answers and Redis does not', async () => {
    const port = await freePort();
    await expect(
      startTestBrokerWith({ env: { ...ENV, WARREN_REDIS_URL: `redis://:pw@127.0.0.1:${port}` } }, noDocker),
    ).rejects.toThrow(
      `no Redis for tests: RabbitMQ answered at ${AMQP_URL.replace(/:[^:@/]+@/, ':***@')} (WARREN_AMQP_URL), but ` +
        `redis://:***@127.0.0.1:${port} (WARREN_REDIS_URL) did not answer (ECONNREFUSED); start Redis and set ` +
        'WARREN_REDIS_URL, or pass { redis: false } to startTestBroker if the tests need no Redis',
    );
  });

  it('the AMQP probe gives up on a port that accepts and never speaks, within its time', async () => {
    const server: Server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    server.on('connection', (socket) => cleanups.push(async () => socket.destroy()));
    const { port } = server.address() as { port: number };
    const started = Date.now();
    const answer = await probeAmqp(`amqp://guest:guest@127.0.0.1:${port}`, 500);
    expect(answer.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
