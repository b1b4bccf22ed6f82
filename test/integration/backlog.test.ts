import { afterEach, describe, expect, it } from 'vitest';
import { Registry, Worker, defineJob, jobsExchange, planTopology } from 'warren';
import { startTestBroker } from 'warren/testing';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { AMQP_URL, memoryLogger, rawConnection, testConfig, waitFor } from '../helpers/broker.js';
import { SHARED_REDIS_URL } from '../helpers/redis-server.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('a worker started on a backlog', () => {
  it('acks every job, with a synchronous handler and deliveries arriving before the consumer setup resolves', async () => {
    const broker = await startTestBroker({
      env: { WARREN_AMQP_URL: AMQP_URL, WARREN_REDIS_URL: SHARED_REDIS_URL },
      jobTypes: ['backlog.job'],
      retryTiersMs: [500],
    });
    cleanup = () => broker.stop();
    const config = testConfig(broker.config);
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    await declareTopology(channel, planTopology(config, [{ jobType: 'backlog.job', tiersMs: config.retryTiersMs }]));
    for (let i = 0; i < 1_000; i += 1) {
      channel.publish(jobsExchange(config.namespace), 'backlog.job', Buffer.from(JSON.stringify({ i })), {
        persistent: true,
      });
    }
    await channel.waitForConfirms();
    await connection.close();

    let handled = 0;
    const registry = new Registry().add([defineJob('backlog.job', () => void (handled += 1), { concurrency: 10 })]);
    const worker = new Worker({ config, registry, logger: memoryLogger().logger });
    cleanup = async () => {
      await worker.stop();
      await broker.stop();
    };
    await worker.start();
    await waitFor('the backlog handled', () => handled === 1_000, 20_000);
    expect(worker.staleSettles).toBe(0);
  });
});
