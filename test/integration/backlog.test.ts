import { afterEach, describe, expect, it } from 'vitest';
import { Registry, Worker, defineJob, jobsExchange, planTopology } from 'warren';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { deleteNamespace, memoryLogger, rawConnection, testConfig, waitFor } from '../helpers/broker.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('a worker started on a backlog', () => {
  it('acks every job, with a synchronous handler and deliveries arriving before the consumer setup resolves', async () => {
    const config = testConfig();
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
      await deleteNamespace(config.namespace, ['backlog.job'], config.retryTiersMs);
    };
    await worker.start();
    await waitFor('the backlog handled', () => handled === 1_000, 20_000);
    expect(worker.staleSettles).toBe(0);
  });
});
