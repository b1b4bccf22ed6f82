import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { deadQueue, defineJob, Registry, WarrenClient, Worker, type DeliveryOutcome } from 'warren';
import { retryQueue } from '../../src/topology/names.js';
import { memoryLogger, queueDepth, testConfig, waitFor } from '../helpers/broker.js';
import { privateBrokerVersions } from '../helpers/private-broker.js';
import { usePrivateBroker } from '../helpers/private-broker-fixture.js';

const JOBS = 100;
// Long enough that every job is still waiting in the tier when the broker stops (stop_app takes ~1 s).
const TIER_MS = 8_000;

describe.each(privateBrokerVersions())('RabbitMQ %s', (version) => {
  const broker = usePrivateBroker({ version });

  describe('broker restart (stop_app/start_app of a private node) with jobs waiting in a retry tier', () => {
    it('none lost: the worker reconnects by itself and every job succeeds on its second attempt', async () => {
      const node = broker.node();
      const config = testConfig({
        amqpUrl: node.url,
        retryTiersMs: [TIER_MS],
        maxAttempts: 3,
        publishTimeoutMs: 30_000,
      });
      const failed = new Map<string, number[]>();
      const succeeded = new Map<string, number[]>();
      const outcomes = new Map<DeliveryOutcome, number>();
      const job = defineJob('restart.job', (_payload: { i: number }, ctx) => {
        if (ctx.attempt === 1) {
          failed.set(ctx.jobId, [...(failed.get(ctx.jobId) ?? []), ctx.attempt]);
          throw new Error('first attempt fails');
        }
        succeeded.set(ctx.jobId, [...(succeeded.get(ctx.jobId) ?? []), ctx.attempt]);
      });
      const { logger, lines } = memoryLogger('info');
      const worker = new Worker({
        config,
        registry: new Registry().add([job]),
        logger,
        onOutcome: (outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1),
      });
      broker.onStop(() => worker.stop());
      const client = new WarrenClient({ config, logger });
      broker.onStop(() => client.close());
      await worker.start();
      await client.start();

      const ids = await Promise.all(Array.from({ length: JOBS }, (_, i) => client.publish('restart.job', { i })));
      const tier = retryQueue(config.namespace, TIER_MS);
      // Every first attempt failed and its retry copy is confirmed in the tier (the original is acked after that).
      await waitFor('every job failed once', () => (outcomes.get('retry') ?? 0) === JOBS, 20_000);
      await waitFor(`${JOBS} copies in ${tier}`, async () => (await queueDepth(tier, node.url)) === JOBS, 5_000, 100);
      expect(succeeded.size).toBe(0);

      await node.stopApp();
      // The worker noticed: its connections are gone. Nothing came out of the tier before the stop.
      await waitFor('worker disconnected', () => !worker.ready, 10_000);
      expect(succeeded.size).toBe(0);
      await sleep(2_000);
      await node.startApp();

      await waitFor('worker ready again', () => worker.ready, 30_000, 100);
      await waitFor(`all ${JOBS} jobs succeeded`, () => succeeded.size === JOBS, 60_000, 100);
      // Late duplicates (if any) would show up within this.
      await sleep(500);

      expect(new Set(succeeded.keys())).toEqual(new Set(ids));
      expect(new Set(failed.keys())).toEqual(new Set(ids));
      for (const [, attempts] of succeeded) expect(attempts).toEqual([2]);
      for (const [, attempts] of failed) expect(attempts).toEqual([1]);
      expect(outcomes.get('dead') ?? 0).toBe(0);
      expect(await queueDepth(deadQueue(config.namespace, 'restart.job'), node.url)).toBe(0);
      expect(await queueDepth(tier, node.url)).toBe(0);
      expect(lines.some((line) => line.includes('reconnected to RabbitMQ'))).toBe(true);
    });
  });
});
