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
      // Prefetch = concurrency: the 100 beyond it are never delivered (see the next test for those that wait).
      { concurrency: 200, prefetch: 200 },
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

  it('deliveries waiting for a slot run during the drain, never more at once than the concurrency', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const job = defineJob(
      'drain.job',
      async (payload: { i: number }) => {
        running += 1;
        most = Math.max(most, running);
        await gate;
        running -= 1;
        done.push(payload.i);
      },
      { concurrency: 20, prefetch: 40 },
    );
    harness = await startHarness([job]);
    const { client, worker, config } = harness;
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.publish('drain.job', { i })));
    const queue = jobQueue(config.namespace, 'drain.job');
    // Twice the concurrency held: 20 running, 20 waiting in the worker, 60 left in the queue.
    await waitFor('20 running and 20 waiting', () => worker.inFlight === 20 && running === 20);
    await waitFor('60 left in the queue', async () => (await queueDepth(queue)) === 60);

    const stopped = worker.stop();
    setTimeout(release, 100);
    await stopped;
    expect(most).toBe(20);
    // The 40 delivered ran once each (the first 40 published: a queue delivers in order); the 60 others stay queued.
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await waitFor('the queue to settle at 60', async () => (await queueDepth(queue)) === 60, 5_000);
  });

  it('past the grace time, deliveries still waiting for a slot go back to the queue without running', async () => {
    const started: number[] = [];
    const job = defineJob(
      'drain.job',
      (payload: { i: number }, ctx) => {
        started.push(payload.i);
        // Runs until the shutdown aborts it.
        return new Promise<void>((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted by the shutdown'))),
        );
      },
      { concurrency: 2, prefetch: 4 },
    );
    harness = await startHarness([job], { config: { shutdownGraceMs: 300 } });
    const { client, worker, config } = harness;
    await Promise.all(Array.from({ length: 4 }, (_, i) => client.publish('drain.job', { i })));
    const queue = jobQueue(config.namespace, 'drain.job');
    await waitFor('2 running, 2 waiting, none left in the queue', async () => {
      return started.length === 2 && (await queueDepth(queue)) === 0;
    });
    await worker.stop();
    // Only the two that had a slot ever started; all four are back in the queue.
    expect(started).toEqual([0, 1]);
    await waitFor('all 4 back in the queue', async () => (await queueDepth(queue)) === 4, 5_000);
  });
});
