import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, jobQueue } from 'warren';
import { rawConnection, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('consumer recovery', () => {
  it('re-subscribes after a server-sent basic.cancel (queue deleted under it)', async () => {
    const handled: number[] = [];
    harness = await startHarness([defineJob('cancel.job', (p: { i: number }) => void handled.push(p.i))]);
    const { client, config, worker } = harness;
    await client.publish('cancel.job', { i: 1 });
    await waitFor('first job', () => handled.length === 1);

    const connection = await rawConnection();
    const channel = await connection.createChannel();
    await channel.deleteQueue(jobQueue(config.namespace, 'cancel.job'));
    await connection.close();

    await waitFor(
      'the cancel',
      () => harness?.logLines.some((l) => l.includes('RabbitMQ cancelled the consumer')) ?? false,
    );
    // RabbitMQ 3.10 re-subscribes on the same channel at once. On 4.0 a quorum queue is deleted in the background: the
    // first re-declare can still see it and the bind then fails, closing the channel, which is re-opened (declaring
    // and subscribing again). Either way the worker must be consuming again.
    await waitFor('ready', () => worker.ready);
    await client.publish('cancel.job', { i: 2 });
    await waitFor('job after the cancel', () => handled.length === 2);
    expect(handled).toEqual([1, 2]);
  });
});
