import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { defineJob } from 'warren';
import { run, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('rabbitmqctl close_all_connections under load', () => {
  it('resumes by itself, handles every job, duplicates at most the in-flight count, no unknown delivery tag', async () => {
    const concurrency = 10;
    const handled = new Map<number, number>();
    // Jobs that start before the close are held until the connections are gone, so the close surely lands with
    // a full prefetch in flight, however long rabbitmqctl takes to start.
    let connectionsClosed = false;
    const job = defineJob(
      'chaos.job',
      async (payload: { i: number }) => {
        while (!connectionsClosed && payload.i >= 30 && payload.i < 1_000) await sleep(20);
        await sleep(5);
        handled.set(payload.i, (handled.get(payload.i) ?? 0) + 1);
      },
      { concurrency },
    );
    harness = await startHarness([job], { config: { publishTimeoutMs: 30_000 } });
    const { client, worker } = harness;
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => client.publish('chaos.job', { i })));
    await waitFor('a full prefetch held in flight', () => handled.size >= 30 && worker.inFlight === concurrency);

    await run('rabbitmqctl', ['close_all_connections', 'warren chaos test']);
    await waitFor('the worker to notice', () => !worker.ready);
    connectionsClosed = true;
    // Published while the connection is down: buffered and sent after the reconnect.
    const late = Array.from({ length: 50 }, (_, k) => client.publish('chaos.job', { i: 1_000 + k }));

    await waitFor('worker ready again', () => worker.ready, 30_000);
    await Promise.all(late);
    await waitFor('all 1,050 jobs handled', () => handled.size === 1_050, 60_000);
    await sleep(500);

    const duplicates = [...handled.values()].reduce((sum, count) => sum + (count - 1), 0);
    expect(duplicates).toBeLessThanOrEqual(concurrency);
    expect(harness.logLines.join('\n')).not.toMatch(/unknown delivery tag/i);
    // Jobs that were running when the channel went away finished, and their acks were dropped, not sent.
    expect(worker.staleSettles).toBeGreaterThan(0);
    expect(worker.staleSettles).toBeLessThanOrEqual(concurrency);
    expect(harness.logLines.some((line) => line.includes('reconnected to RabbitMQ'))).toBe(true);
  });
});
