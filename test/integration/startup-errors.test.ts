import { jobTopology } from '../../src/topology/topology-plan.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConnectionError,
  DeadLetterAdmin,
  DeadLetterReplay,
  Registry,
  TopologyConflictError,
  Worker,
  WarrenClient,
  defineJob,
  jobQueue,
  loadConfig,
  type WarrenConfig,
} from 'warren';
import { runWarren } from '../helpers/cli.js';
import {
  AMQP_URL,
  deleteNamespace,
  memoryLogger,
  rawConnection,
  testConfig,
  uniqueNamespace,
} from '../helpers/broker.js';

const handlers = new Registry().add([defineJob('startup.job', () => {})]);

/** The test broker's URL with a password it refuses. */
const WRONG_PASSWORD_URL = Object.assign(new URL(AMQP_URL), { password: 'wrong-password' }).toString();
const CHECK_LOGIN = 'check the user name and password in';

/** How `start()` failed; fails the test when it did not. */
/** Starts a worker that must fail on a topology conflict; resolves with its error. */
async function conflictAtStart(config: WarrenConfig): Promise<Error> {
  const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger });
  const error = await worker.start().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(TopologyConflictError);
  return error as Error;
}

async function startError(start: () => Promise<unknown>): Promise<Error> {
  const error = await start().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectionError);
  expect((error as Error).message).not.toContain('wrong-password');
  return error as Error;
}

/** A directory whose config/warren.json holds `settings`, and an empty environment. */
function configDir(settings: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-startup-'));
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'warren.json'), JSON.stringify(settings));
  return dir;
}

describe('startup errors', () => {
  it('wrong password: a clear error within 2 s', async () => {
    const config = testConfig({ amqpUrl: 'amqp://guest:wrong-password@127.0.0.1:5672' });
    const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger });
    const started = Date.now();
    const error = await worker.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/refused the login of user "guest" \(403 ACCESS_REFUSED\)/);
    expect((error as Error).message).not.toContain('wrong-password');
    expect(worker.state).toBe('failed');
  });

  it('unknown vhost: a readable message', async () => {
    const client = new WarrenClient({
      config: testConfig({ amqpUrl: 'amqp://guest:guest@127.0.0.1:5672/no-such-vhost' }),
      logger: memoryLogger().logger,
    });
    await expect(client.start()).rejects.toThrow(/no virtual host "no-such-vhost"/);
  });

  it('refused port: retried until the connect timeout, then a readable message', async () => {
    const config = testConfig({ amqpUrl: 'amqp://guest:guest@127.0.0.1:1' });
    const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger, connectTimeoutMs: 1_500 });
    await expect(worker.start()).rejects.toThrow(/within 1500 ms: nothing is listening for AMQP at 127.0.0.1:1/);
  });

  it('a queue pre-declared with another x-queue-type stops startup naming the queue and the argument', async () => {
    const config = testConfig({ queueType: 'quorum' });
    const queue = jobQueue(config.namespace, 'startup.job');
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await connection.close();
    try {
      const error = await conflictAtStart(config);
      expect(error?.message).toContain(`queue "${queue}"`);
      expect(error?.message).toContain('x-queue-type');
      expect(error?.message).toContain('warren declares "quorum", the existing queue has "classic"');
    } finally {
      await deleteNamespace(config.namespace, ['startup.job']);
    }
  });
});

describe('replication settings of quorum queues', () => {
  it('a job queue created with another initial group size stops startup naming the queue, the argument and both values', async () => {
    const config = testConfig({ queueType: 'quorum', quorumInitialGroupSize: 3 });
    const queue = jobQueue(config.namespace, 'startup.job');
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    // Everything as warren declares it, but one replica.
    const [planned] = jobTopology({ ...config, quorumInitialGroupSize: 1 }, 'startup.job').queues;
    await channel.assertQueue(queue, { durable: true, arguments: planned?.arguments });
    await connection.close();
    try {
      const error = await conflictAtStart(config);
      expect(error?.message).toContain(`queue "${queue}"`);
      expect(error?.message).toContain('x-quorum-initial-group-size');
      expect(error?.message).toContain('warren declares "3", the existing queue has "1"');
    } finally {
      await deleteNamespace(config.namespace, ['startup.job']);
    }
  });

  it('queues warren created with a leader locator are declared again by a worker with the same settings', async () => {
    const config = testConfig({ queueType: 'quorum', quorumInitialGroupSize: 1, queueLeaderLocator: 'balanced' });
    try {
      for (let run = 0; run < 2; run += 1) {
        const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger });
        await worker.start();
        await worker.stop();
      }
    } finally {
      await deleteNamespace(config.namespace, ['startup.job']);
    }
  });
});

describe('connection errors name where the URL came from', () => {
  it('a URL passed in code: "the amqpUrl option passed in code"', async () => {
    const client = new WarrenClient({
      config: testConfig({ amqpUrl: WRONG_PASSWORD_URL }),
      logger: memoryLogger().logger,
    });
    const error = await startError(() => client.start());
    expect(error.message).toMatch(/refused the login of user "guest" \(403 ACCESS_REFUSED\)/);
    expect(error.message).toMatch(new RegExp(`${CHECK_LOGIN} the amqpUrl option passed in code$`));
  });

  it('a URL from WARREN_AMQP_URL, read by loadConfig: the client and the dead-letter admin say WARREN_AMQP_URL', async () => {
    const config = loadConfig({
      env: { WARREN_AMQP_URL: WRONG_PASSWORD_URL, WARREN_NAMESPACE: uniqueNamespace(), WARREN_LOG_LEVEL: 'silent' },
      cwd: configDir({}),
    });
    const { logger } = memoryLogger();
    const client = new WarrenClient({ config, logger });
    expect((await startError(() => client.start())).message).toMatch(new RegExp(`${CHECK_LOGIN} WARREN_AMQP_URL$`));
    const admin = new DeadLetterAdmin({ config, logger });
    expect((await startError(() => admin.start())).message).toMatch(new RegExp(`${CHECK_LOGIN} WARREN_AMQP_URL$`));
    await admin.close();
  });

  it('a URL from WARREN_AMQP_URL in the environment of `warren publish`: the CLI says WARREN_AMQP_URL', async () => {
    const { code, stderr } = await runWarren(['publish', 'startup.job', '{}'], {
      WARREN_AMQP_URL: WRONG_PASSWORD_URL,
      WARREN_NAMESPACE: uniqueNamespace(),
    });
    expect(code).toBe(1);
    expect(stderr).toContain(`${CHECK_LOGIN} WARREN_AMQP_URL\n`);
    expect(stderr).not.toContain('wrong-password');
  });

  it('a URL from a config file: the worker and the replay name the file and the key', async () => {
    const dir = configDir({ amqpUrl: WRONG_PASSWORD_URL, namespace: uniqueNamespace() });
    const config = loadConfig({ env: {}, cwd: dir });
    const { logger } = memoryLogger();
    const worker = new Worker({ config, registry: handlers, logger });
    expect((await startError(() => worker.start())).message).toMatch(
      new RegExp(`${CHECK_LOGIN} config/warren\\.json \\(amqpUrl\\)$`),
    );
    // A file named by WARREN_CONFIG outside the working directory is named by its absolute path.
    const file = join(dir, 'config', 'warren.json');
    const replay = new DeadLetterReplay({
      config: loadConfig({ env: { WARREN_CONFIG: file }, cwd: configDir({}) }),
      jobType: 'startup.job',
      logger,
    });
    expect((await startError(() => replay.run())).message).toContain(`${CHECK_LOGIN} ${file} (amqpUrl)`);
  });

  it('a refused port from WARREN_AMQP_URL: the retried failure says where the host and port came from', async () => {
    const config = loadConfig({
      env: { WARREN_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1', WARREN_NAMESPACE: uniqueNamespace() },
      cwd: configDir({}),
    });
    const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger, connectTimeoutMs: 1_500 });
    await expect(worker.start()).rejects.toThrow(
      /within 1500 ms: nothing is listening for AMQP at 127\.0\.0\.1:1 \(connection refused\): is RabbitMQ running\? Check the host and port in WARREN_AMQP_URL$/,
    );
  });
});
