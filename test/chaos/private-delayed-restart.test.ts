import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { defineJob, HEADERS, Registry, WarrenClient, Worker } from 'warren';
import { memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { privateBrokerVersions } from '../helpers/private-broker.js';
import { usePrivateBroker } from '../helpers/private-broker-fixture.js';

const JOBS = 50;

describe.each(privateBrokerVersions())('RabbitMQ %s', (version) => {
  const broker = usePrivateBroker({ version });

  describe('delayed jobs across a broker restart (stop_app/start_app of a private node)', () => {
    it('jobs waiting in the delay cascade all arrive after the restart, none before its due time', async () => {
      const node = broker.node();
      const config = testConfig({ amqpUrl: node.url, publishTimeoutMs: 30_000 });
      const arrivals = new Map<string, Array<{ at: number; dueAt: number }>>();
      const { logger } = memoryLogger('silent');
      const worker = new Worker({
        config,
        registry: new Registry().add([
          defineJob(
            'delay.restart',
            (_payload, ctx) => {
              const list = arrivals.get(ctx.jobId) ?? [];
              list.push({ at: Date.now(), dueAt: Date.parse(String(ctx.headers[HEADERS.dueAt])) });
              arrivals.set(ctx.jobId, list);
            },
            { concurrency: 50 },
          ),
        ]),
        logger,
      });
      broker.onStop(() => worker.stop());
      const client = new WarrenClient({ config, logger });
      broker.onStop(() => client.close());
      await worker.start();
      await client.start();

      // Due in 9-13 s: each one waits first in the 8 s level of the cascade.
      const due = new Map<string, number>();
      await Promise.all(
        Array.from({ length: JOBS }, async (_, i) => {
          const delayMs = 9_000 + Math.floor(Math.random() * 4_001);
          const before = Date.now();
          await client.publish('delay.restart', { i }, { messageId: `delayed-${i}`, delayMs });
          due.set(`delayed-${i}`, before + delayMs);
        }),
      );
      expect(arrivals.size).toBe(0);

      // Restart the node while every job is inside the cascade.
      await node.stopApp();
      // Stopped before any job was due: every one of them was inside the cascade.
      expect(Date.now()).toBeLessThan(Math.min(...due.values()));
      await waitFor('the worker to notice', () => !worker.ready, 10_000);
      await sleep(1_000);
      await node.startApp();
      await waitFor('the worker to reconnect', () => worker.ready, 30_000);

      const lastDue = Math.max(...due.values());
      await waitFor(
        `all ${JOBS} delayed jobs`,
        () => arrivals.size === JOBS,
        Math.max(lastDue - Date.now(), 0) + 20_000,
        100,
      );
      const early: string[] = [];
      for (const [id, list] of arrivals) {
        for (const { at, dueAt } of list)
          if (at < dueAt || at < (due.get(id) as number))
            early.push(`${id}: ${Math.max(dueAt, due.get(id) as number) - at} ms early`);
      }
      expect(early).toEqual([]);
      // At-least-once: a copy dead-lettered across the restart may arrive twice, never not at all.
      const copies = [...arrivals.values()].reduce((sum, list) => sum + list.length, 0);
      expect(copies).toBeGreaterThanOrEqual(JOBS);
      expect(copies).toBeLessThanOrEqual(JOBS + 5);
    });
  });
});
