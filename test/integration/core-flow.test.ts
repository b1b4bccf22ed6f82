import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Job, defineJob, jobsExchange, type JobContext } from 'warren';
import { rawConnection, run, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('publish → topic exchange → per-job-type queue → handler', () => {
  it('handles 1,000 jobs over two job types at concurrency 10 exactly once, with typed payloads and context', async () => {
    const Order = z.object({ orderId: z.number().int(), total: z.number() });
    const seenOrders = new Map<number, number>();
    const seenMails = new Map<string, number>();
    let active = 0;
    let maxActive = 0;
    const contexts: JobContext[] = [];

    const orders = defineJob(
      'order.process',
      async (payload, ctx) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        // Typed by the schema: orderId is a number.
        const id: number = payload.orderId;
        seenOrders.set(id, (seenOrders.get(id) ?? 0) + 1);
        if (contexts.length < 3) contexts.push(ctx);
        await sleep(1);
        active -= 1;
      },
      { schema: Order, concurrency: 10 },
    );
    class Mailer {
      @Job('mail.deliver', { concurrency: 10 })
      async deliver(payload: { to: string }, ctx: JobContext): Promise<void> {
        expect(ctx.jobType).toBe('mail.deliver');
        seenMails.set(payload.to, (seenMails.get(payload.to) ?? 0) + 1);
      }
    }

    harness = await startHarness([orders, Mailer], { schemas: { 'order.process': Order } });
    const { client } = harness;
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        ids.push(await client.publish('order.process', { orderId: i, total: i * 1.5 }, { messageId: `order-${i}` }));
        await client.publish('mail.deliver', { to: `user${i}@example.com` });
      }),
    );
    expect(ids).toHaveLength(500);

    await waitFor('1,000 jobs handled', () => seenOrders.size === 500 && seenMails.size === 500, 30_000);
    await sleep(300); // a late duplicate would show up here
    expect([...seenOrders.values()].every((count) => count === 1)).toBe(true);
    expect([...seenMails.values()].every((count) => count === 1)).toBe(true);
    expect(maxActive).toBeLessThanOrEqual(10);
    expect(maxActive).toBeGreaterThan(1);

    const ctx = contexts[0];
    expect(ctx?.jobId).toMatch(/^order-\d+$/);
    expect(ctx?.jobType).toBe('order.process');
    expect(ctx?.attempt).toBe(1);
    expect(ctx?.signal).toBeInstanceOf(AbortSignal);
    expect(typeof ctx?.logger.info).toBe('function');
    expect(ctx?.headers).toEqual({});
    expect(harness.worker.staleSettles).toBe(0);
  });

  it('handles jobs from publishers that are not warren: plain amqplib and amqp-publish', async () => {
    const received: Array<{ payload: unknown; jobId: string }> = [];
    harness = await startHarness([
      defineJob('foreign.job', (payload, ctx) => void received.push({ payload, jobId: ctx.jobId })),
    ]);
    const exchange = jobsExchange(harness.config.namespace);

    // Only exchange, routing key and a JSON body: no content type, no message id, not persistent.
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    channel.publish(exchange, 'foreign.job', Buffer.from(JSON.stringify({ from: 'amqplib' })));
    await channel.close();
    await connection.close();

    await run('amqp-publish', [
      '--url',
      harness.config.amqpUrl,
      '-e',
      exchange,
      '-r',
      'foreign.job',
      '-C',
      'application/json',
      '-p',
      '-b',
      '{"from":"amqp-publish"}',
    ]);

    await waitFor('both foreign jobs', () => received.length === 2);
    expect(received.map((r) => r.payload)).toEqual(
      expect.arrayContaining([{ from: 'amqplib' }, { from: 'amqp-publish' }]),
    );
    // A job without a message id still gets one.
    expect(received.every((r) => r.jobId.length > 0)).toBe(true);
  });
});
