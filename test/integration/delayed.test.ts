import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, UnroutableError, defineJob } from 'warren';
import { delayTopology } from '../../src/topology/topology-plan.js';
import { rawConnection, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('delayed jobs through the binary delay cascade', () => {
  it('delivers at or after the due time, within 1.5 s, and a short delay is not held back by a long one', async () => {
    const arrivals = new Map<string, { at: number; headers: Record<string, unknown> }>();
    harness = await startHarness([
      defineJob(
        'later.job',
        (_p, ctx) => void arrivals.set(ctx.jobId, { at: Date.now(), headers: { ...ctx.headers } }),
      ),
    ]);
    const { client } = harness;
    await client.publish('later.job', {}, { messageId: 'in-an-hour', delayMs: 3_600_000 });
    const published = Date.now();
    await client.publish('later.job', {}, { messageId: 'in-3s', delayMs: 3_000 });
    await client.publish('later.job', {}, { messageId: 'at-2s', runAt: new Date(published + 2_000) });
    await client.publish('later.job', {}, { messageId: 'now', delayMs: 0 });
    await waitFor(
      'the short delays',
      () => arrivals.has('in-3s') && arrivals.has('at-2s') && arrivals.has('now'),
      8_000,
    );
    const late = (id: string, due: number): number => (arrivals.get(id)?.at ?? 0) - (published + due);
    expect(late('in-3s', 3_000)).toBeGreaterThanOrEqual(0);
    expect(late('in-3s', 3_000)).toBeLessThanOrEqual(1_500);
    expect(late('at-2s', 2_000)).toBeGreaterThanOrEqual(0);
    expect(late('at-2s', 2_000)).toBeLessThanOrEqual(1_500);
    expect(late('now', 0)).toBeLessThanOrEqual(1_000);
    expect(arrivals.has('in-an-hour')).toBe(false);
    expect(arrivals.get('in-3s')?.headers[HEADERS.dueAt]).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('refuses a delayed job type without a queue, and delays past the maximum', async () => {
    harness = await startHarness([defineJob('some.job', () => {})]);
    await expect(harness.client.publish('no.queue', {}, { delayMs: 5_000 })).rejects.toThrow(UnroutableError);
    await expect(harness.client.publish('some.job', {}, { delayMs: 2 ** 28 * 1000 })).rejects.toThrow(
      /the longest delay is 268435455 s/,
    );
  });

  it("a first delayed publish while another process has declared the cascade's queues but not yet bound them", async () => {
    const arrivals: string[] = [];
    harness = await startHarness([defineJob('bound.job', (_p, ctx) => void arrivals.push(ctx.jobId))]);
    // What a second publisher sees while the first is still declaring: every level's queue, no binding yet.
    const connection = await rawConnection();
    try {
      const channel = await connection.createChannel();
      for (const queue of delayTopology(harness.config).queues)
        await channel.assertQueue(queue.name, { durable: true, arguments: { ...queue.arguments } });
    } finally {
      await connection.close();
    }
    await harness.client.publish('bound.job', {}, { messageId: 'bound-1', delayMs: 1_000 });
    await waitFor('the delayed job', () => arrivals.includes('bound-1'), 5_000);
  });
});
