import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, RetryableError, defineJob, jobsExchange, jobQueue } from 'warren';
import { queueDepth, rawConnection, waitFor } from '../helpers/broker.js';
import { takeDeadLetters } from '../helpers/dead-letters.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
const extraQueues: string[] = [];
afterEach(async () => {
  if (extraQueues.length > 0) {
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    for (const queue of extraQueues.splice(0)) await channel.deleteQueue(queue);
    await connection.close();
  }
  await harness?.close();
  harness = undefined;
});

describe('retry through TTL tier queues', () => {
  it('with tiers 1s,2s,4s: attempts arrive after ≈1 s, 2 s, 4 s and ctx.attempt rises 1→4', async () => {
    const calls: Array<{ attempt: number; at: number }> = [];
    const job = defineJob('flaky.job', (_payload, ctx) => {
      calls.push({ attempt: ctx.attempt, at: Date.now() });
      if (ctx.attempt < 4) throw new Error(`failure ${ctx.attempt}`);
    });
    harness = await startHarness([job], { config: { retryTiersMs: [1_000, 2_000, 4_000], maxAttempts: 5 } });
    await harness.client.publish('flaky.job', {}, { messageId: 'flaky-1' });
    await waitFor('the fourth attempt', () => calls.length === 4, 15_000);

    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? 0));
    for (const [i, delay] of [1_000, 2_000, 4_000].entries()) {
      expect(gaps[i], `wait before attempt ${i + 2}`).toBeGreaterThanOrEqual(delay);
      expect(gaps[i], `wait before attempt ${i + 2}`).toBeLessThanOrEqual(delay + 1_000);
    }
    await waitFor(
      'the job queue to drain',
      async () => (await queueDepth(jobQueue(harness?.config.namespace ?? '', 'flaky.job'))) === 0,
    );
  });

  it('no head-of-line blocking: a job entering a short tier is redelivered on time while another waits in a long one', async () => {
    const calls: Array<{ id: string; attempt: number; at: number }> = [];
    const job = defineJob('hol.job', (payload: { delayMs: number }, ctx) => {
      calls.push({ id: ctx.jobId, attempt: ctx.attempt, at: Date.now() });
      if (ctx.attempt === 1) throw new RetryableError('later', { delayMs: payload.delayMs });
    });
    harness = await startHarness([job], { config: { retryTiersMs: [1_000, 20_000], maxAttempts: 3 } });
    await harness.client.publish('hol.job', { delayMs: 20_000 }, { messageId: 'long' });
    await waitFor('the long job to fail once', () => calls.some((c) => c.id === 'long'));
    await harness.client.publish('hol.job', { delayMs: 1_000 }, { messageId: 'short' });

    await waitFor('the short job to be retried', () => calls.filter((c) => c.id === 'short').length === 2, 5_000);
    const [first, second] = calls.filter((c) => c.id === 'short');
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeLessThanOrEqual(2_000);
    expect(calls.filter((c) => c.id === 'long')).toHaveLength(1); // still waiting in the 20 s tier
  });

  it("a job's retries reach only its own queue, never a wildcard-bound neighbour or another job type", async () => {
    const seen: Array<{ jobType: string; attempt: number; payload: unknown }> = [];
    const a = defineJob('orders.create', (payload, ctx) => {
      seen.push({ jobType: ctx.jobType, attempt: ctx.attempt, payload });
      if (ctx.attempt === 1) throw new Error('once');
    });
    const b = defineJob(
      'orders.create.audit',
      (payload, ctx) => void seen.push({ jobType: ctx.jobType, attempt: ctx.attempt, payload }),
    );
    harness = await startHarness([a, b], { config: { retryTiersMs: [300], maxAttempts: 3 } });
    const { config, client } = harness;

    // A neighbour that taps every job with a wildcard binding on the jobs exchange.
    const tap = `${config.namespace}.tap`;
    extraQueues.push(tap);
    const connection = await rawConnection();
    const channel = await connection.createChannel();
    await channel.assertQueue(tap, { durable: false });
    await channel.bindQueue(tap, jobsExchange(config.namespace), '#');
    await connection.close();

    await client.publish('orders.create', { n: 1 });
    await waitFor('the retry to succeed', () => seen.filter((s) => s.jobType === 'orders.create').length === 2);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(seen).toEqual([
      { jobType: 'orders.create', attempt: 1, payload: { n: 1 } },
      { jobType: 'orders.create', attempt: 2, payload: { n: 1 } },
    ]);
    expect(await queueDepth(tap)).toBe(1); // the original publish only
  });

  it('exhausted after maxAttempts: dead-lettered with the attempts, first and last failure time', async () => {
    const job = defineJob(
      'doomed.job',
      () => {
        throw new Error('always');
      },
      { retry: { maxAttempts: 3, tiers: [200, 400] } },
    );
    harness = await startHarness([job]);
    await harness.client.publish('doomed.job', { x: 1 }, { messageId: 'doomed-1' });
    const [dead] = await takeDeadLetters(harness.config.namespace, 'doomed.job', 1);
    const headers = dead?.properties.headers ?? {};
    expect(dead?.properties.messageId).toBe('doomed-1');
    expect(JSON.parse(dead?.content.toString() ?? '')).toEqual({ x: 1 });
    expect(headers).toMatchObject({
      [HEADERS.reason]: 'exhausted',
      [HEADERS.attempt]: 3,
      [HEADERS.errorMessage]: 'always',
    });
    const first = Date.parse(String(headers[HEADERS.firstFailureAt]));
    const last = Date.parse(String(headers[HEADERS.lastFailureAt]));
    expect(last - first).toBeGreaterThanOrEqual(600);
    // The broker's own trail of the tier passes: expired from the tier queue, once per pass.
    expect(headers['x-death']).toEqual(expect.arrayContaining([expect.objectContaining({ reason: 'expired' })]));
  });

  it('a message routed to a job queue under another routing key is dead-lettered as unknown_job_type', async () => {
    const calls: unknown[] = [];
    harness = await startHarness([defineJob('known.job', (p) => void calls.push(p))]);
    const { config } = harness;
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    await channel.bindQueue(jobQueue(config.namespace, 'known.job'), jobsExchange(config.namespace), 'stray.job');
    channel.publish(jobsExchange(config.namespace), 'stray.job', Buffer.from('{}'), { messageId: 'stray-1' });
    await channel.waitForConfirms();
    await connection.close();
    const [dead] = await takeDeadLetters(config.namespace, 'known.job', 1);
    expect(dead?.properties.headers?.[HEADERS.reason]).toBe('unknown_job_type');
    expect(String(dead?.properties.headers?.[HEADERS.errorMessage])).toContain(
      'routing key "stray.job" is not job type "known.job"',
    );
    expect(calls).toEqual([]);
  });
});
