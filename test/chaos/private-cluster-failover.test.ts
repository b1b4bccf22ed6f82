import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, hasCode, jobQueue, Registry, WarrenClient, Worker } from 'warren';
import { memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { startPrivateCluster, type PrivateCluster } from '../helpers/private-cluster.js';

/** Jobs published per 100 ms while the test runs: load through the node loss. */
const BATCH = 10;

describe('a 3-node RabbitMQ 3.10 cluster (quorum queues) and one warren worker and client given every node', () => {
  let cluster: PrivateCluster;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    cluster = await startPrivateCluster({ size: 3 });
  }, 150_000);
  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    await cluster?.stop();
  }, 60_000);

  it('the node holding the job queue and both connections stops under load: they move to another node, no confirmed job is lost', async () => {
    const config = testConfig({ amqpUrl: cluster.amqpUrl, publishTimeoutMs: 15_000, heartbeatSeconds: 2 });
    const handled = new Map<string, number>();
    const handledAt: number[] = [];
    const job = defineJob('cluster.job', (_payload: { i: number }, ctx) => {
      handled.set(ctx.jobId, (handled.get(ctx.jobId) ?? 0) + 1);
      handledAt.push(Date.now());
    });
    const { logger, lines } = memoryLogger('info');
    const worker = new Worker({ config, registry: new Registry().add([job]), logger });
    closers.push(() => worker.stop());
    const client = new WarrenClient({ config, logger });
    closers.push(() => client.close());
    await worker.start();
    await client.start();

    const { consume, publish } = worker.nodes;
    expect(consume).toBe(publish);
    expect(client.node).toBe(consume);
    const victim = cluster.nodeOnPort(Number(consume?.split(':')[1]));
    if (!victim) throw new Error(`the worker is on ${String(consume)}, no node of the cluster`);
    // Declared through the worker's connection: the job queue's leader is on its node (client-local placement).
    expect(await cluster.leaderOf(jobQueue(config.namespace, 'cluster.job'))).toBe(victim.nodeName);

    const confirmed = new Set<string>();
    const failures: unknown[] = [];
    let publishing = true;
    let n = 0;
    const pending: Array<Promise<void>> = [];
    const load = (async () => {
      while (publishing) {
        for (let k = 0; k < BATCH; k += 1) {
          const id = `job-${(n += 1)}`;
          pending.push(
            client.publish('cluster.job', { i: n }, { messageId: id }).then(
              () => void confirmed.add(id),
              (error: unknown) => void failures.push(error),
            ),
          );
        }
        await sleep(100);
      }
    })();

    await sleep(2_000);
    const stoppedAt = Date.now();
    await victim.stopApp();
    await waitFor(
      'the worker to consume again through another node',
      () => handledAt.some((t) => t > stoppedAt + 500) && worker.ready,
      20_000,
      50,
    );
    const resumedAfterMs = (worker.ready ? Date.now() : Infinity) - stoppedAt;
    await sleep(3_000);
    publishing = false;
    await load;
    await Promise.all(pending);

    // Every confirmed job was handled; what was not confirmed failed with a coded error.
    await waitFor('every confirmed job handled', () => [...confirmed].every((id) => handled.has(id)), 60_000, 100);
    const lost = [...confirmed].filter((id) => !handled.has(id));
    expect(lost).toEqual([]);
    expect(confirmed.size + failures.length).toBe(n);
    for (const failure of failures)
      expect(
        hasCode(failure, 'WARREN_ERR_PUBLISH_TIMEOUT') ||
          hasCode(failure, 'WARREN_ERR_PUBLISH_BUFFER_FULL') ||
          hasCode(failure, 'WARREN_ERR_PUBLISH_REJECTED'),
      ).toBe(true);
    const { consume: after } = worker.nodes;
    expect(after).toBeDefined();
    expect(after).not.toBe(consume);
    expect(client.node).toBeDefined();
    expect(client.node).not.toBe(consume);
    expect(resumedAfterMs).toBeLessThan(10_000);
    expect(lines.some((line) => line.includes('reconnected to RabbitMQ') && line.includes(String(after)))).toBe(true);
    await victim.startApp();
    process.stderr.write(
      `cluster failover: ${n} published, ${confirmed.size} confirmed, ${failures.length} failed (coded), ${lost.length} lost; consuming again ${resumedAfterMs} ms after the stop, on ${String(after)}\n`,
    );
  });
  it('replication settings: each quorum queue gets its initial group size, and balanced placement spreads the leaders', async () => {
    const config = testConfig({ amqpUrl: cluster.amqpUrl, quorumInitialGroupSize: 2, queueLeaderLocator: 'balanced' });
    const jobTypes = ['placed.a', 'placed.b', 'placed.c', 'placed.d', 'placed.e', 'placed.f'];
    const worker = new Worker({
      config,
      registry: new Registry().add(jobTypes.map((jobType) => defineJob(jobType, () => {}))),
      logger: memoryLogger('warn').logger,
    });
    closers.push(() => worker.stop());
    await worker.start();
    const leaders = new Set<string>();
    for (const jobType of jobTypes) {
      const replicas = await cluster.queueReplicas(jobQueue(config.namespace, jobType));
      expect(replicas?.members).toHaveLength(2);
      leaders.add(replicas?.leader ?? '');
    }
    // Declared through one connection: client-local placement would put all six on its node.
    expect(leaders.size).toBeGreaterThanOrEqual(2);
    await worker.stop();
  });
});
