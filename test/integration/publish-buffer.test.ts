import { afterEach, describe, expect, it } from 'vitest';
import { PublishBufferFullError, PublishTimeoutError, WarrenClient, defineJob } from 'warren';
import { AMQP_URL, memoryLogger, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let harness: Harness | undefined;
let proxy: TcpProxy | undefined;
let client: WarrenClient | undefined;
afterEach(async () => {
  await client?.close();
  await proxy?.stop();
  await harness?.close();
  [harness, proxy, client] = [undefined, undefined, undefined];
});

describe('publishing while disconnected', () => {
  it('buffers up to publishBufferSize, fails fast beyond it, and delivers the buffered ones after reconnecting', async () => {
    const handled: number[] = [];
    harness = await startHarness([defineJob('buffer.job', (p: { i: number }) => void handled.push(p.i))]);
    proxy = new TcpProxy(Number(new URL(AMQP_URL).port || 5672));
    const port = await proxy.start();
    const url = new URL(harness.config.amqpUrl);
    url.port = String(port);
    const { logger, lines } = memoryLogger();
    client = new WarrenClient({
      config: { ...harness.config, amqpUrl: url.toString(), publishBufferSize: 3, publishTimeoutMs: 20_000 },
      logger,
    });
    await client.start();
    await client.publish('buffer.job', { i: 0 });

    proxy.cut();
    await waitFor('the client to notice', () => lines.some((l) => l.includes('disconnected from RabbitMQ')));
    const started = client;
    const buffered = [1, 2, 3].map((i) => started.publish('buffer.job', { i }));
    const overflow = started.publish('buffer.job', { i: 4 });
    await expect(overflow).rejects.toThrow(PublishBufferFullError);
    await expect(overflow).rejects.toThrow(
      /not connected to RabbitMQ and 3 messages are already waiting \(publishBufferSize\)/,
    );

    proxy.restore();
    await Promise.all(buffered);
    await waitFor('buffered jobs handled', () => handled.length === 4);
    expect(handled.sort()).toEqual([0, 1, 2, 3]);
  });

  it('while connected, a burst far past publishBufferSize waits for the socket to drain and is confirmed whole', async () => {
    const handled = new Set<number>();
    harness = await startHarness([defineJob('burst.job', (p: { i: number }) => void handled.add(p.i))], {
      config: { publishBufferSize: 10 },
    });
    const burst = harness.client;
    // Large enough that amqplib's publish reports a full socket and the rest queue behind its drain.
    const filler = 'x'.repeat(2_000);
    const results = await Promise.allSettled(
      Array.from({ length: 3_000 }, (_, i) => burst.publish('burst.job', { i, filler })),
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.map((r) => String(r.reason)).slice(0, 3)).toEqual([]);
    await waitFor('every job handled', () => handled.size === 3_000, 30_000);
  });

  it('a publish that cannot be sent in time fails with a message saying it was not sent', async () => {
    harness = await startHarness([defineJob('late.job', () => {})]);
    proxy = new TcpProxy(Number(new URL(AMQP_URL).port || 5672));
    const port = await proxy.start();
    const url = new URL(harness.config.amqpUrl);
    url.port = String(port);
    const { logger, lines } = memoryLogger();
    client = new WarrenClient({
      config: { ...harness.config, amqpUrl: url.toString(), publishTimeoutMs: 500 },
      logger,
    });
    await client.start();
    proxy.cut();
    await waitFor('the client to notice', () => lines.some((l) => l.includes('disconnected from RabbitMQ')));
    const publish = client.publish('late.job', {}, { messageId: 'late-1' });
    await expect(publish).rejects.toThrow(PublishTimeoutError);
    await expect(publish).rejects.toThrow('message late-1 was not sent: no connection to RabbitMQ within 500 ms');
  });
});
