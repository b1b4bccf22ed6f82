import { describe, expect, it } from 'vitest';
import { ConnectionError, Registry, TopologyConflictError, Worker, WarrenClient, defineJob, jobQueue } from 'warren';
import { deleteNamespace, memoryLogger, rawConnection, testConfig } from '../helpers/broker.js';

const handlers = new Registry().add([defineJob('startup.job', () => {})]);

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
      const worker = new Worker({ config, registry: handlers, logger: memoryLogger().logger });
      const error = await worker.start().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(TopologyConflictError);
      expect(error?.message).toContain(`queue "${queue}"`);
      expect(error?.message).toContain('x-queue-type');
      expect(error?.message).toContain('warren declares "quorum", the existing queue has "classic"');
    } finally {
      await deleteNamespace(config.namespace, ['startup.job']);
    }
  });
});
