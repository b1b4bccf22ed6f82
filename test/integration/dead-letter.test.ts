import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HEADERS, NonRetryableError, defineJob, jobQueue, jobsExchange } from 'warren';
import { queueDepth, rawConnection } from '../helpers/broker.js';
import { takeDeadLetters } from '../helpers/dead-letters.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('dead letters carry their context and are confirmed before the ack', () => {
  it('records reason, error, attempt, queue, routing key, host and pid; keeps body and message id', async () => {
    const calls: string[] = [];
    const job = defineJob('fail.job', (payload: { mode: string }) => {
      calls.push(payload.mode);
      if (payload.mode === 'non-retryable') throw new NonRetryableError('card declined');
      // Handlers that throw non-Errors, on purpose: warren must turn each into an Error.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (payload.mode === 'string') throw 'plain string';
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (payload.mode === 'undefined') throw undefined;
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      if (payload.mode === 'null') return Promise.reject(null);
      throw new TypeError('boom');
    });
    harness = await startHarness([job], { config: { maxAttempts: 1 } });
    const { client, config } = harness;
    for (const mode of ['non-retryable', 'error', 'string', 'undefined', 'null']) {
      await client.publish('fail.job', { mode }, { messageId: `m-${mode}` });
    }
    const dead = await takeDeadLetters(config.namespace, 'fail.job', 5);
    const byId = new Map(dead.map((m) => [m.properties.messageId as string, m]));

    const declined = byId.get('m-non-retryable');
    expect(JSON.parse(declined?.content.toString() ?? '')).toEqual({ mode: 'non-retryable' });
    expect(declined?.properties.contentType).toBe('application/json');
    expect(declined?.properties.type).toBe('fail.job');
    expect(declined?.properties.headers).toMatchObject({
      [HEADERS.reason]: 'non_retryable',
      [HEADERS.errorName]: 'NonRetryableError',
      [HEADERS.errorMessage]: 'card declined',
      [HEADERS.attempt]: 1,
      [HEADERS.originalQueue]: jobQueue(config.namespace, 'fail.job'),
      [HEADERS.originalRoutingKey]: 'fail.job',
      [HEADERS.workerHost]: hostname(),
      [HEADERS.workerPid]: process.pid,
    });
    expect(String(declined?.properties.headers?.[HEADERS.errorStack])).toContain('NonRetryableError: card declined');
    expect(declined?.properties.headers?.[HEADERS.firstFailureAt]).toBe(
      declined?.properties.headers?.[HEADERS.lastFailureAt],
    );

    expect(byId.get('m-error')?.properties.headers).toMatchObject({
      [HEADERS.reason]: 'exhausted',
      [HEADERS.errorName]: 'TypeError',
    });
    expect(byId.get('m-string')?.properties.headers?.[HEADERS.errorMessage]).toBe(
      'handler threw a non-Error value: "plain string"',
    );
    expect(byId.get('m-undefined')?.properties.headers?.[HEADERS.errorMessage]).toBe('handler threw undefined');
    expect(byId.get('m-null')?.properties.headers?.[HEADERS.errorMessage]).toBe(
      'handler threw a non-Error value: null',
    );

    // Each original was acked, once: nothing is left in the job queue and each handler ran once.
    expect(calls.sort()).toEqual(['error', 'non-retryable', 'null', 'string', 'undefined']);
    expect(await queueDepth(jobQueue(config.namespace, 'fail.job'))).toBe(0);
    expect(harness.worker.ready).toBe(true);
  });

  it('dead-letters invalid JSON, a non-JSON content type and schema violations without calling the handler', async () => {
    const calls: unknown[] = [];
    const job = defineJob('strict.job', (payload) => void calls.push(payload), { schema: z.object({ n: z.number() }) });
    harness = await startHarness([job]);
    const { config } = harness;
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    const exchange = jobsExchange(config.namespace);
    channel.publish(exchange, 'strict.job', Buffer.from('{not json'), { messageId: 'bad-json' });
    channel.publish(exchange, 'strict.job', Buffer.from('{"n":1}'), {
      messageId: 'bad-type',
      contentType: 'text/plain',
    });
    channel.publish(exchange, 'strict.job', Buffer.from('{"n":"one"}'), {
      messageId: 'bad-schema',
      contentType: 'application/json',
    });
    channel.publish(exchange, 'strict.job', Buffer.from('{"n":2}'), {
      messageId: 'good',
      contentType: 'application/json',
    });
    await channel.waitForConfirms();
    await connection.close();

    const dead = await takeDeadLetters(config.namespace, 'strict.job', 3);
    const reasons = Object.fromEntries(
      dead.map((m) => [m.properties.messageId, m.properties.headers?.[HEADERS.reason]]),
    );
    expect(reasons).toEqual({
      'bad-json': 'invalid_payload',
      'bad-type': 'invalid_payload',
      'bad-schema': 'invalid_payload',
    });
    const messages = Object.fromEntries(
      dead.map((m) => [m.properties.messageId, String(m.properties.headers?.[HEADERS.errorMessage])]),
    );
    expect(messages['bad-json']).toMatch(/body is not valid JSON/);
    expect(messages['bad-type']).toMatch(/content type "text\/plain" is not JSON/);
    expect(messages['bad-schema']).toMatch(/schema of "strict.job": n: /);
    expect(calls).toEqual([{ n: 2 }]);
  });

  it('a job past its timeoutMs has its signal aborted and is dead-lettered as a failure', async () => {
    let aborted: unknown;
    const job = defineJob(
      'slow.job',
      (_payload, ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            resolve();
          });
        }),
      { timeoutMs: 300, retry: { maxAttempts: 1 } },
    );
    harness = await startHarness([job]);
    await harness.client.publish('slow.job', {}, { messageId: 'slow-1' });
    const [dead] = await takeDeadLetters(harness.config.namespace, 'slow.job', 1);
    expect(dead?.properties.headers).toMatchObject({ [HEADERS.errorName]: 'JobTimeoutError' });
    expect(String(dead?.properties.headers?.[HEADERS.errorMessage])).toMatch(/ran past its timeout of 300 ms/);
    expect((aborted as Error).name).toBe('JobTimeoutError');
  });
});
