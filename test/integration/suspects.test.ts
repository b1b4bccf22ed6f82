import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { defineJob, jobQueue, jobsExchange, type DeliveryOutcome, type JobContext } from 'warren';
import { declareTopology } from '../../src/topology/declare-topology.js';
import { jobTopology } from '../../src/topology/topology-plan.js';
import { HEADERS } from '../../src/messages/headers.js';
import { rawConnection, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const JOB = 'suspect.work';

/**
 * Puts `suspects` jobs in the queue as a crash leaves them (taken by a consumer that went away holding them: each
 * redelivered, `x-delivery-count` 1), then `fresh` jobs that nobody has seen.
 */
async function queueAfterACrash(namespace: string, suspects: number, fresh: number): Promise<void> {
  const config = testConfig({ namespace });
  const connection = await rawConnection();
  try {
    const setup = await connection.createConfirmChannel();
    await declareTopology(setup, jobTopology(config, JOB, config.retryTiersMs), connection);
    const publish = (id: string) =>
      setup.publish(jobsExchange(namespace), JOB, Buffer.from(JSON.stringify({ id })), {
        messageId: id,
        persistent: true,
        contentType: 'application/json',
      });
    for (let i = 0; i < suspects; i += 1) publish(`s-${i}`);
    await setup.waitForConfirms();
    const crashed = await connection.createChannel();
    await crashed.prefetch(suspects);
    let held = 0;
    await crashed.consume(jobQueue(namespace, JOB), () => void (held += 1));
    await waitFor('the crashing consumer holds every suspect', () => held === suspects, 10_000);
    await crashed.close(); // as a crash does: every unacknowledged delivery goes back, counted
    for (let i = 0; i < fresh; i += 1) publish(`f-${i}`);
    await setup.waitForConfirms();
  } finally {
    await connection.close();
  }
}

describe('suspects (deliveries handed back by a crash) run alone', () => {
  it('runs each suspect with nothing else in flight, defers the others by a confirmed copy, and handles every job once', async () => {
    const namespace = uniqueNamespace();
    await queueAfterACrash(namespace, 10, 40);
    const active = new Set<string>();
    const beside = new Map<string, string[]>();
    const handled = new Map<string, number>();
    const contexts = new Map<string, JobContext>();
    const outcomes: DeliveryOutcome[] = [];
    let maxActive = 0;
    const job = defineJob(
      JOB,
      async (payload: { id: string }, ctx) => {
        active.add(ctx.jobId);
        maxActive = Math.max(maxActive, active.size);
        if (ctx.jobId.startsWith('s-'))
          beside.set(
            ctx.jobId,
            [...active].filter((id) => id !== ctx.jobId),
          );
        for (const id of active) if (id.startsWith('s-') && id !== ctx.jobId) beside.get(id)?.push(ctx.jobId);
        contexts.set(ctx.jobId, ctx);
        await sleep(20);
        handled.set(payload.id, (handled.get(payload.id) ?? 0) + 1);
        active.delete(ctx.jobId);
      },
      { concurrency: 10 },
    );
    harness = await startHarness([job], { config: { namespace }, onOutcome: (outcome) => outcomes.push(outcome) });

    await waitFor('all 50 jobs handled', () => handled.size === 50, 30_000);
    await sleep(300); // a late duplicate would show up here
    expect([...handled.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    // Each suspect ran alone: no job started or was running beside it.
    for (let i = 0; i < 10; i += 1) expect(beside.get(`s-${i}`), `s-${i} ran beside others`).toEqual([]);
    // The fresh jobs still ran in parallel once the suspects were done.
    expect(maxActive).toBeGreaterThan(1);
    // Deferred once at most each: the suspects left after the first run one by one at prefetch 1, not copied again.
    const deferrals = outcomes.filter((outcome) => outcome === 'deferred').length;
    expect(deferrals).toBeGreaterThanOrEqual(1);
    expect(deferrals).toBeLessThanOrEqual(9);
    // A suspect keeps its attempt number (one crash: attempt 2), deferred or not; a deferred one carries the header.
    for (let i = 0; i < 10; i += 1) expect(contexts.get(`s-${i}`)?.attempt).toBe(2);
    expect(contexts.get('f-0')?.attempt).toBe(1);
    const deferred = [...contexts.values()].filter((ctx) => ctx.headers[HEADERS.suspect] !== undefined);
    expect(deferred.length).toBe(outcomes.filter((outcome) => outcome === 'deferred').length);
    expect(deferred.every((ctx) => ctx.headers[HEADERS.suspect] === 1)).toBe(true);
    expect(harness.worker.staleSettles).toBe(0);
    expect(harness.worker.ready).toBe(true);
  });
});
