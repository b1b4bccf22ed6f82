import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { defineJob, defineSchedule, hasCode, jobQueue, Registry, WarrenClient, Worker } from 'warren';
import { connectionOrder, processSeed } from '../../src/config/broker-urls.js';
import { delayLevel, retryQueue } from '../../src/topology/names.js';
import { memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { privateBrokerVersions } from '../helpers/private-broker.js';
import { startPrivateCluster, type PrivateCluster } from '../helpers/private-cluster.js';
import { SHARED_REDIS_URL, deleteRedisNamespace } from '../helpers/redis-server.js';

/** The cluster's URLs in an order with which this process connects to node `i` first (see connectionOrder). */
function urlsTryingFirst(cluster: PrivateCluster, i: number): string {
  const urls = cluster.nodes.map((node) => node.url);
  const seed = processSeed(hostname(), process.pid);
  for (let k = 0; k < urls.length; k += 1) {
    const candidate = [...urls.slice(k), ...urls.slice(0, k)];
    if (connectionOrder(candidate, seed)[0] === urls[i]) return candidate.join(',');
  }
  throw new Error(`no order starts at node ${i}`);
}

/** Jobs published per 100 ms while the test runs: load through the node loss. */
const BATCH = 10;

describe.each(privateBrokerVersions())(
  'a 3-node RabbitMQ %s cluster (quorum queues), warren given every node',
  (version) => {
    let cluster: PrivateCluster;
    const closers: Array<() => Promise<unknown>> = [];
    beforeAll(async () => {
      cluster = await startPrivateCluster({ size: 3, version });
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
        `cluster ${version} failover: ${n} published, ${confirmed.size} confirmed, ${failures.length} failed (coded), ${lost.length} lost; consuming again ${resumedAfterMs} ms after the stop, on ${String(after)}\n`,
      );
    });
    it('replication settings: each quorum queue gets its initial group size, and balanced placement spreads the leaders', async () => {
      const config = testConfig({
        amqpUrl: cluster.amqpUrl,
        quorumInitialGroupSize: 2,
        queueLeaderLocator: 'balanced',
      });
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
    it('three schedulers, one per node, a schedule every second; one node stops for 15 s: every fire published and handled once, none missing', async () => {
      const namespace = testConfig().namespace;
      closers.push(() => deleteRedisNamespace(namespace));
      const schedule = defineSchedule({ name: 'every-second', cron: '* * * * * *', jobType: 'cluster.tick' });
      const runs = new Map<string, number>();
      const consumer = new Worker({
        config: testConfig({ namespace, amqpUrl: urlsTryingFirst(cluster, 1), redisUrl: SHARED_REDIS_URL }),
        registry: new Registry().add([
          defineJob(
            'cluster.tick',
            (_payload: unknown, ctx) => void runs.set(ctx.jobId, (runs.get(ctx.jobId) ?? 0) + 1),
          ),
        ]),
        logger: memoryLogger('warn').logger,
      });
      closers.push(() => consumer.stop());
      await consumer.start();
      const schedulers = cluster.nodes.map(
        (_node, i) =>
          new Worker({
            config: testConfig({ namespace, amqpUrl: urlsTryingFirst(cluster, i), redisUrl: SHARED_REDIS_URL }),
            registry: new Registry(),
            schedules: [schedule],
            logger: memoryLogger('warn').logger,
          }),
      );
      for (const scheduler of schedulers) closers.push(() => scheduler.stop());
      await Promise.all(schedulers.map((scheduler) => scheduler.start()));
      expect(new Set(schedulers.map((scheduler) => scheduler.nodes.publish)).size).toBe(3);

      const startedAt = Date.now();
      await sleep(4_000);
      const victim = cluster.nodes[0];
      if (!victim) throw new Error('no node');
      await victim.stopApp();
      await sleep(15_000);
      await victim.startApp();
      await sleep(4_000);
      await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
      const stoppedAt = Date.now();
      await sleep(3_000);

      const fireTimes = [...runs.keys()].map((id) => Date.parse(id.split('@')[1] ?? '')).sort((a, b) => a - b);
      const first = fireTimes[0] ?? 0;
      const last = fireTimes.at(-1) ?? 0;
      const missing: string[] = [];
      for (let t = first; t <= last; t += 1_000) if (!fireTimes.includes(t)) missing.push(new Date(t).toISOString());
      expect(missing).toEqual([]);
      expect([...runs.values()].every((count) => count === 1)).toBe(true);
      // Every second from shortly after the start to shortly before the stop is there.
      expect(first).toBeLessThanOrEqual(startedAt + 2_000);
      expect(last).toBeGreaterThanOrEqual(stoppedAt - 5_000);
      process.stderr.write(
        `cluster ${version} schedulers: ${runs.size} fires over ${(last - first) / 1000 + 1} s, ${missing.length} missing, each handled once\n`,
      );
    });

    it('jobs waiting in a retry tier and in the delay cascade when the node of their leader stops arrive on time after the failover, none lost', async () => {
      const config = testConfig({
        amqpUrl: urlsTryingFirst(cluster, 2),
        retryTiersMs: [6_000],
        maxAttempts: 3,
        heartbeatSeconds: 2,
      });
      const JOBS = 50;
      const failedAt = new Map<string, number>();
      const retriedAt = new Map<string, number>();
      const delayedAt = new Map<string, number>();
      const worker = new Worker({
        config,
        registry: new Registry().add([
          defineJob('cluster.retried', (_payload: unknown, ctx) => {
            if (ctx.attempt === 1) {
              failedAt.set(ctx.jobId, Date.now());
              throw new Error('first attempt fails');
            }
            retriedAt.set(ctx.jobId, Date.now());
          }),
          defineJob('cluster.delayed', (_payload: unknown, ctx) => void delayedAt.set(ctx.jobId, Date.now())),
        ]),
        logger: memoryLogger('warn').logger,
      });
      closers.push(() => worker.stop());
      const client = new WarrenClient({ config, logger: memoryLogger('warn').logger });
      closers.push(() => client.close());
      await worker.start();
      await client.start();
      const victim = cluster.nodeOnPort(Number(worker.nodes.consume?.split(':')[1]));
      if (!victim) throw new Error('the worker is on no node of the cluster');

      const retried = await Promise.all(
        Array.from({ length: JOBS }, (_, i) => client.publish('cluster.retried', { i })),
      );
      const publishedAt = Date.now();
      const delayed = await Promise.all(
        Array.from({ length: JOBS }, (_, i) => client.publish('cluster.delayed', { i }, { delayMs: 8_000 })),
      );
      await waitFor('every first attempt failed', () => failedAt.size === JOBS, 10_000, 20);
      // The tier and the delay cascade were declared through the worker's and the client's node: their leaders are there.
      expect(await cluster.leaderOf(retryQueue(config.namespace, 6_000))).toBe(victim.nodeName);
      expect(await cluster.leaderOf(delayLevel(config.namespace, 2))).toBe(victim.nodeName);
      await victim.stopApp();

      await waitFor('every retry handled', () => retriedAt.size === JOBS, 30_000, 50);
      await waitFor('every delayed job handled', () => delayedAt.size === JOBS, 30_000, 50);
      await victim.startApp();
      expect(new Set(retriedAt.keys())).toEqual(new Set(retried));
      expect(new Set(delayedAt.keys())).toEqual(new Set(delayed));
      const lateness = (due: number, at: number): number => at - due;
      const retryLate = [...retriedAt].map(([id, at]) => lateness((failedAt.get(id) ?? 0) + 6_000, at));
      const delayLate = [...delayedAt.values()].map((at) => lateness(publishedAt + 8_000, at));
      // Never early; late by at most the failover (a new leader, the connections' move) and the delay's rounding.
      expect(Math.min(...retryLate)).toBeGreaterThanOrEqual(-50);
      expect(Math.max(...retryLate)).toBeLessThanOrEqual(8_000);
      expect(Math.min(...delayLate)).toBeGreaterThanOrEqual(-1_000);
      expect(Math.max(...delayLate)).toBeLessThanOrEqual(9_000);
      process.stderr.write(
        `cluster ${version} tiers after failover: retries late by ${Math.min(...retryLate)}–${Math.max(...retryLate)} ms, delayed jobs by ${Math.min(...delayLate)}–${Math.max(...delayLate)} ms, 0 lost of ${2 * JOBS}\n`,
      );
    });
  },
);
