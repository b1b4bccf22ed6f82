import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, jobQueue } from 'warren';
import { deleteNamespace, queueDepth, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  // The worker is already stopped by the test; close the client and delete the namespace.
  if (harness) {
    await harness.client.close();
    await deleteNamespace(harness.config.namespace, ['drain.job']);
  }
  harness = undefined;
});

describe('graceful stop under load', () => {
  it('acks of jobs that finish during the drain stick: nothing finished is returned to the queue', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = 0;
    const job = defineJob(
      'drain.job',
      async () => {
        await gate;
        finished += 1;
      },
      { concurrency: 200 },
    );
    harness = await startHarness([job]);
    const { client, worker, config } = harness;
    await Promise.all(Array.from({ length: 300 }, (_, i) => client.publish('drain.job', { i })));
    await waitFor('200 jobs in flight', () => worker.inFlight === 200);

    const stopped = worker.stop();
    setTimeout(release, 100);
    await stopped;
    expect(finished).toBe(200);
    // Only the 100 never delivered remain; quorum queues would return acked jobs whose acks were still batched.
    let depth = -1;
    await waitFor(
      'the queue to settle at the 100 jobs never delivered',
      async () => (depth = await queueDepth(jobQueue(config.namespace, 'drain.job'))) === 100,
      5_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}: it holds ${depth}`, { cause: error });
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await queueDepth(jobQueue(config.namespace, 'drain.job'))).toBe(100);
  });
});
