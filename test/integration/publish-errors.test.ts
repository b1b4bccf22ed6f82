import { afterEach, describe, expect, it } from 'vitest';
import { PayloadInvalidError, PayloadTooLargeError, UnroutableError, WarrenClient, defineJob, hasCode } from 'warren';
import { z } from 'zod';
import { memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
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
      await expect(notADate).rejects.toThrow(TypeError);
      await expect(client.publish('any.job', {}, { delayMs: Number.NaN })).rejects.toThrow(/not a valid time/);
    } finally {
      await client.close();
    }
  });
});
