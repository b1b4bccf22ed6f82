import { afterEach, describe, expect, it } from 'vitest';
import {
  HEADERS,
  PayloadInvalidError,
  PayloadTooLargeError,
  PublishOptionsError,
  UnroutableError,
  WarrenClient,
  defineJob,
  hasCode,
  jobQueue,
} from 'warren';
import { z } from 'zod';
import { memoryLogger, rawConnection, testConfig, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('publish errors', () => {
  it('unroutable → UnroutableError; oversized → PayloadTooLargeError before sending; consumers undisturbed', async () => {
    const handled: number[] = [];
    harness = await startHarness([defineJob('steady.job', (p: { i: number }) => void handled.push(p.i))], {
      config: { maxPayloadBytes: 10_000 },
    });
    const { client } = harness;
    await client.publish('steady.job', { i: 0 });
    await waitFor('first job', () => handled.length === 1);

    const unroutable = client.publish('nobody.listens', { x: 1 }, { messageId: 'lost-1' });
    await expect(unroutable).rejects.toThrow(UnroutableError);
    await expect(unroutable).rejects.toThrow(
      /lost-1 was returned: no queue is bound to .*\.jobs for routing key "nobody.listens"/,
    );

    const oversized = client.publish('steady.job', { i: -1, blob: 'x'.repeat(20_000) });
    await expect(oversized).rejects.toThrow(PayloadTooLargeError);
    await expect(oversized).rejects.toThrow(/is 200\d\d bytes; the limit is 10000 bytes \(maxPayloadBytes\)/);

    // Both publish paths and the consumers keep working afterwards.
    for (let i = 1; i <= 20; i += 1) await client.publish('steady.job', { i });
    await waitFor('20 more jobs', () => handled.length === 21);
    expect(handled).not.toContain(-1);
    expect(harness.worker.ready).toBe(true);
  });

  it('validates the payload against the schema before sending', async () => {
    const client = new WarrenClient({
      config: testConfig(),
      logger: memoryLogger().logger,
      schemas: { 'user.create': z.object({ email: z.email() }) },
    });
    await client.start();
    try {
      const publish = client.publish('user.create', { email: 'not-an-email' });
      await expect(publish).rejects.toThrow(PayloadInvalidError);
      await expect(publish).rejects.toThrow(/schema of "user.create": email: /);
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      await expect(client.publish('any.job', cyclic)).rejects.toSatisfy((e) =>
        hasCode(e, 'WARREN_ERR_PAYLOAD_INVALID'),
      );
      // Bad input from plain JavaScript rejects the returned promise; publish never throws synchronously.
      let notADate: Promise<string> | undefined;
      expect(() => {
        notADate = client.publish('any.job', {}, { runAt: 'tomorrow' as unknown as Date });
      }).not.toThrow();
      await expect(notADate).rejects.toThrow(PublishOptionsError);
      await expect(notADate).rejects.toThrow('cannot publish "any.job": runAt must be a valid Date; got "tomorrow"');
      await expect(client.publish('any.job', {}, { delayMs: Number.NaN })).rejects.toThrow(
        'cannot publish "any.job": delayMs must be a finite number of milliseconds, 0 or more; got NaN',
      );
    } finally {
      await client.close();
    }
  });

  it('a bad job type or option rejects with PublishOptionsError, and nothing of it reaches the queue', async () => {
    const handled: string[] = [];
    harness = await startHarness([defineJob('guarded.job', (_p: unknown, ctx) => void handled.push(ctx.jobId))]);
    const { client, config } = harness;
    // Before these checks the first six were sent (to the job queue, or through the delay cascade), and amqplib threw
    // a TypeError for the last two (a message id and a routing key past 255 bytes).
    const refused: Array<[string, Parameters<WarrenClient['publish']>[2]]> = [
      ['guarded.job', { messageId: '' }],
      ['guarded.job', { messageId: 'attempt-5', headers: { [HEADERS.attempt]: 5 } }],
      ['guarded.job', { messageId: 'shouty', headers: { 'X-WARREN-SCHEDULE': 'nightly' } }],
      ['guarded.job', { messageId: 'negative', delayMs: -5_000 }],
      ['guarded.job', { messageId: 'both', delayMs: 60_000, runAt: new Date() }],
      ['guarded.job', { messageId: 'list', headers: [] as unknown as Record<string, unknown> }],
      ['guarded.job', { messageId: 'g'.repeat(256) }],
      ['guarded.job'.repeat(30), { messageId: 'long-type' }],
    ];
    for (const [jobType, options] of refused) {
      await expect(client.publish(jobType, {}, options), JSON.stringify(options)).rejects.toSatisfy((e) =>
        hasCode(e, 'WARREN_ERR_PUBLISH_OPTIONS'),
      );
    }
    // Sent after them on the same paths, so they would have arrived first.
    await client.publish('guarded.job', {}, { messageId: 'sentinel-now' });
    await client.publish('guarded.job', {}, { messageId: 'sentinel-delayed', delayMs: 0 });
    await waitFor('both sentinels', () => handled.includes('sentinel-now') && handled.includes('sentinel-delayed'));
    expect(handled.sort()).toEqual(['sentinel-delayed', 'sentinel-now']);
    const connection = await rawConnection();
    try {
      const channel = await connection.createChannel();
      expect((await channel.checkQueue(jobQueue(config.namespace, 'guarded.job'))).messageCount).toBe(0);
    } finally {
      await connection.close();
    }
  });
});
