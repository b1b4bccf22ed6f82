import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, defineJob, type JobDefinition } from 'warren';
import { DeliveryRunner, type DeliveryIdentity } from '../../../src/consumer/delivery-runner.js';
import { LazyAbort } from '../../../src/consumer/lazy-abort.js';
import { DUPLICATE, SUCCESS, SUCCESS_RECORDED, GIVE_BACK, type Verdict } from '../../../src/consumer/verdict.js';
import { HEADERS } from '../../../src/messages/headers.js';
import { delivery } from '../../helpers/fake-delivery.js';

const policy = { maxAttempts: 3, tiersMs: [1_000] };
const id: DeliveryIdentity = { jobId: 'job-1', hasId: true, attempt: 1, headers: {} };

/** De-duplication that remembers in memory, with the store's interface. */
class MemoryDedup {
  readonly done = new Set<string>();
  isDone(jobType: string, messageId: string): Promise<boolean> {
    return Promise.resolve(this.done.has(`${jobType}:${messageId}`));
  }
}

function runner(
  job: JobDefinition,
  options: { dedup?: MemoryDedup; draining?: () => boolean; timeoutMs?: number } = {},
): DeliveryRunner {
  return new DeliveryRunner(job, {
    queue: `ns.job.${job.jobType}`,
    retryPolicy: policy,
    timeoutMs: options.timeoutMs ?? 1_000,
    logger: pino({ level: 'silent' }),
    dedup: options.dedup,
    draining: options.draining ?? (() => false),
  });
}

describe('DeliveryRunner', () => {
  it('decides a synchronous success without a promise', () => {
    const seen: unknown[] = [];
    const verdict = runner(defineJob('test.job', (payload) => void seen.push(payload))).run(
      delivery({ n: 1 }),
      id,
      new LazyAbort(),
    );
    expect(verdict).not.toBeInstanceOf(Promise);
    expect(verdict).toBe(SUCCESS);
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('decides a synchronous schema violation and a malformed body without a promise, the handler never called', () => {
    let calls = 0;
    const job = defineJob('test.job', () => void (calls += 1), { schema: z.object({ n: z.number() }) });
    const violated = runner(job).run(delivery({ n: 'one' }), id, new LazyAbort());
    expect(violated).not.toBeInstanceOf(Promise);
    expect(violated).toMatchObject({ kind: 'dead', reason: 'invalid_payload' });
    const malformed = runner(job).run(delivery(null, { raw: Buffer.from('{"n":') }), id, new LazyAbort());
    expect(malformed).toMatchObject({ kind: 'dead', reason: 'invalid_payload' });
    expect(calls).toBe(0);
  });

  it('dead-letters a delivery routed here with another job type, the handler never called', () => {
    let calls = 0;
    const verdict = runner(defineJob('test.job', () => void (calls += 1))).run(
      delivery({}, { routingKey: 'other.job' }),
      id,
      new LazyAbort(),
    );
    expect(verdict).toMatchObject({ kind: 'dead', reason: 'unknown_job_type' });
    expect(calls).toBe(0);
  });

  it('retries a throw, dead-letters a NonRetryableError, and times out a handler that never settles', async () => {
    expect(
      runner(
        defineJob('test.job', () => {
          throw new Error('flaky');
        }),
      ).run(delivery({}), id, new LazyAbort()),
    ).toMatchObject({ kind: 'retry', delayMs: 1_000, timedOut: false });
    await expect(
      runner(defineJob('test.job', () => Promise.reject(new NonRetryableError('never')))).run(
        delivery({}),
        id,
        new LazyAbort(),
      ),
    ).resolves.toMatchObject({ kind: 'dead', reason: 'non_retryable' });
    const controller = new LazyAbort();
    const hung = runner(
      defineJob('test.job', () => new Promise(() => {})),
      { timeoutMs: 20 },
    ).run(delivery({}), id, controller);
    await expect(hung).resolves.toMatchObject({ kind: 'retry', timedOut: true });
    expect(controller.aborted).toBe(true);
  });

  it('gives back a job the shutdown aborted, but not one that timed out while draining', async () => {
    const controller = new LazyAbort();
    const pending = runner(
      defineJob(
        'test.job',
        (_p, ctx) =>
          new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
      ),
      { draining: () => true },
    ).run(delivery({}), id, controller);
    controller.abort(new Error('worker is shutting down'));
    await expect(pending).resolves.toBe(GIVE_BACK);
    const timedOut = runner(
      defineJob('test.job', () => new Promise(() => {})),
      { draining: () => true, timeoutMs: 20 },
    );
    await expect(timedOut.run(delivery({}), id, new LazyAbort())).resolves.toMatchObject({ kind: 'retry' });
  });

  it('skips an idempotent job already done, and records one that succeeds', async () => {
    const dedup = new MemoryDedup();
    let calls = 0;
    const job = defineJob('test.job', () => void (calls += 1), { idempotent: true });
    await expect(runner(job, { dedup }).run(delivery({}), id, new LazyAbort())).resolves.toBe(SUCCESS_RECORDED);
    dedup.done.add('test.job:job-1');
    await expect(runner(job, { dedup }).run(delivery({}), id, new LazyAbort())).resolves.toBe(DUPLICATE);
    expect(calls).toBe(1);
    // Without a message id of its own there is nothing to de-duplicate by.
    const anonymous: Verdict | Promise<Verdict> = runner(job, { dedup }).run(
      delivery({}),
      { ...id, hasId: false },
      new LazyAbort(),
    );
    expect(anonymous).toBe(SUCCESS);
  });

  it('de-duplicates a scheduled job by its schedule header even when not idempotent', async () => {
    const dedup = new MemoryDedup();
    dedup.done.add('test.job:nightly@2026-01-01T00:00:00.000Z');
    const verdict = runner(
      defineJob('test.job', () => {}),
      { dedup },
    ).run(
      delivery({}),
      {
        jobId: 'nightly@2026-01-01T00:00:00.000Z',
        hasId: true,
        attempt: 1,
        headers: { [HEADERS.schedule]: 'nightly' },
      },
      new LazyAbort(),
    );
    await expect(verdict).resolves.toBe(DUPLICATE);
  });
});
