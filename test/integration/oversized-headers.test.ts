import { afterEach, describe, expect, it } from 'vitest';
import { HEADERS, defineJob, jobQueue, jobsExchange } from 'warren';
import { tableBytes } from '../../src/messages/header-bytes.js';
import { FAILURE_CONTEXT_HEADERS, MAX_HEADER_TABLE_BYTES } from '../../src/messages/headers.js';
import { queueDepth, rawConnection, run, waitFor } from '../helpers/broker.js';
import { takeDeadLetters } from '../helpers/dead-letters.js';
import { startHarness, type Harness } from '../helpers/harness.js';

// Copies carry their context whatever the original held: a job published by another client with headers near the
// AMQP limit, or with x-warren-* headers that are garbage, still gets its retry copy and its dead letter, each with
// warren's full context, and runs as many times as its retry policy says (no more: a copy that cannot be published
// returns the job to its queue again and again, and the broker ends it without any reason).

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** What a handler saw of one delivery. */
interface Seen {
  readonly jobId: string;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** A job type whose handler always throws and records each delivery. */
function failingJob(jobType: string, seen: Seen[]) {
  return defineJob(jobType, (_payload: unknown, ctx) => {
    seen.push({ jobId: ctx.jobId, attempt: ctx.attempt, headers: ctx.headers });
    throw new Error(`always fails (${ctx.jobId})`);
  });
}

/** Publishes like a client that is not warren: plain amqplib, confirms, any headers. */
async function publishForeign(
  namespace: string,
  jobType: string,
  messages: ReadonlyArray<{ messageId: string; headers: Record<string, unknown> }>,
): Promise<void> {
  const connection = await rawConnection();
  try {
    const channel = await connection.createConfirmChannel();
    for (const { messageId, headers } of messages) {
      channel.publish(jobsExchange(namespace), jobType, Buffer.from('{"n":1}'), {
        messageId,
        contentType: 'application/json',
        persistent: true,
        headers,
      });
    }
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

const CONTEXT = FAILURE_CONTEXT_HEADERS;

describe('a job whose own headers are near the AMQP limit', () => {
  it('gets a retry copy and a dead letter with full context, recording the foreign headers left out', async () => {
    const seen: Seen[] = [];
    harness = await startHarness([failingJob('big.job', seen)], {
      config: { maxAttempts: 2, retryTiersMs: [300] },
    });
    const { namespace } = harness.config;
    // Each original is as large as amqplib publishes, less 100 bytes: no room for warren's context beside it.
    const ascii = { small: 'kept', big: 'a'.repeat(MAX_HEADER_TABLE_BYTES - 100 - 4 - 19 - 11) };
    const unicode = { small: 'kept', big: '日'.repeat(Math.floor((MAX_HEADER_TABLE_BYTES - 100 - 4 - 19 - 11) / 3)) };
    for (const headers of [ascii, unicode]) {
      expect(tableBytes(headers, true)).toBeGreaterThan(MAX_HEADER_TABLE_BYTES - 110);
      expect(tableBytes(headers, true)).toBeLessThanOrEqual(MAX_HEADER_TABLE_BYTES - 100);
    }
    await publishForeign(namespace, 'big.job', [
      { messageId: 'big-ascii', headers: ascii },
      { messageId: 'big-unicode', headers: unicode },
    ]);

    const dead = await takeDeadLetters(namespace, 'big.job', 2);
    const byId = new Map(dead.map((message) => [message.properties.messageId as string, message]));
    for (const jobId of ['big-ascii', 'big-unicode']) {
      // Exactly the two attempts of the policy: no copy failed and sent the job back to its queue.
      const runs = seen.filter((s) => s.jobId === jobId);
      expect(
        runs.map((s) => s.attempt),
        jobId,
      ).toEqual([1, 2]);
      const [first, retried] = runs;
      expect(first?.headers['big'], jobId).toBeDefined();

      // The retry copy, as the broker delivered it back: warren's context, the foreign header left out and recorded.
      expect(retried?.headers, jobId).toMatchObject({
        small: 'kept',
        [HEADERS.attempt]: 2,
        [HEADERS.errorMessage]: `always fails (${jobId})`,
        [HEADERS.originalQueue]: jobQueue(namespace, 'big.job'),
        [HEADERS.droppedHeaders]: ['big'],
      });
      expect(retried?.headers, jobId).not.toHaveProperty('big');
      expect(retried?.headers, jobId).not.toHaveProperty([HEADERS.reason]);

      // The dead letter: warren's, with its reason and the whole context, not the broker's delivery_limit one.
      const headers = byId.get(jobId)?.properties.headers ?? {};
      for (const name of CONTEXT) expect(headers, `${jobId}: ${name}`).toHaveProperty([name]);
      expect(headers, jobId).toMatchObject({
        small: 'kept',
        [HEADERS.reason]: 'exhausted',
        [HEADERS.attempt]: 2,
        [HEADERS.errorName]: 'Error',
        [HEADERS.errorMessage]: `always fails (${jobId})`,
        [HEADERS.firstFailureAt]: retried?.headers[HEADERS.firstFailureAt],
        [HEADERS.droppedHeaders]: ['big'],
      });
      expect(headers, jobId).not.toHaveProperty('big');
      expect(String(headers[HEADERS.errorStack]), jobId).toContain('always fails');
    }
    // Each original was acked: nothing is left in, or came back to, the job queue.
    expect(await queueDepth(jobQueue(namespace, 'big.job'))).toBe(0);
    expect(seen).toHaveLength(4);
  });
});

describe('a job from amqp-publish with a header table larger than amqplib can publish', () => {
  it('keeps as many of its headers as fit, largest left out first, and counts a string x-warren-attempt', async () => {
    const seen: Seen[] = [];
    harness = await startHarness([failingJob('wide.job', seen)], {
      config: { maxAttempts: 4, retryTiersMs: [300] },
    });
    const { namespace, amqpUrl } = harness.config;
    // Ten headers of 9,000 bytes: a 90 KB table, which RabbitMQ takes from a client that is not amqplib.
    const names = Array.from({ length: 10 }, (_, i) => `h${i}`);
    const args = ['--url', amqpUrl, '-e', jobsExchange(namespace), '-r', 'wide.job', '-C', 'application/json', '-p'];
    for (const name of names) args.push('-H', `${name}: ${name.repeat(4_500)}`);
    // amqp-publish sends every header as a string.
    args.push('-H', `${HEADERS.attempt}: 3`, '-b', '{"n":1}');
    await run('amqp-publish', args);

    // No message id: the worker generates one, which the copies keep.
    await waitFor('two attempts', () => seen.length >= 2);
    const jobId = seen[0]?.jobId ?? '';
    const [dead] = await takeDeadLetters(namespace, 'wide.job', 1);
    expect(seen.map((s) => [s.jobId, s.attempt])).toEqual([
      [jobId, 3],
      [jobId, 4],
    ]);
    expect(Object.keys(seen[0]?.headers ?? {}).filter((name) => names.includes(name))).toEqual(names);
    expect(tableBytes(seen[0]?.headers ?? {}, true)).toBeGreaterThan(MAX_HEADER_TABLE_BYTES + 20_000);

    for (const headers of [seen[1]?.headers ?? {}, dead?.properties.headers ?? {}]) {
      const kept = names.filter((name) => name in headers);
      const dropped = headers[HEADERS.droppedHeaders] as string[];
      // All the same size: left out in name order until the rest fits beside warren's context.
      expect(dropped).toEqual(names.slice(0, names.length - kept.length));
      expect(kept.length).toBeGreaterThanOrEqual(6);
      for (const name of kept) expect(headers[name]).toBe(name.repeat(4_500));
    }
    expect(dead?.properties.messageId).toBe(jobId);
    expect(dead?.properties.headers).toMatchObject({ [HEADERS.reason]: 'exhausted', [HEADERS.attempt]: 4 });
    expect(seen).toHaveLength(2);
  });
});

describe('a job whose x-warren-* headers are garbage', () => {
  it('runs "abc" as attempt 1, and its copies carry a correct attempt and a valid first-failure time', async () => {
    const seen: Seen[] = [];
    harness = await startHarness([failingJob('garbage.job', seen)], {
      config: { maxAttempts: 2, retryTiersMs: [300] },
    });
    const { namespace } = harness.config;
    const before = Date.now();
    await publishForeign(namespace, 'garbage.job', [
      {
        messageId: 'abc',
        headers: {
          [HEADERS.attempt]: 'abc',
          [HEADERS.firstFailureAt]: 'yesterday',
          [HEADERS.errorStack]: 'forged',
          [HEADERS.dueAt]: { not: 'a time' },
        },
      },
      { messageId: 'negative', headers: { [HEADERS.attempt]: -1, [HEADERS.firstFailureAt]: '2026-02-30T00:00:00Z' } },
      { messageId: 'fraction', headers: { [HEADERS.attempt]: 2.5 } },
      { messageId: 'table', headers: { [HEADERS.attempt]: { n: 1 } } },
    ]);
    const dead = await takeDeadLetters(namespace, 'garbage.job', 4);
    const byId = new Map(dead.map((message) => [message.properties.messageId as string, message]));
    for (const jobId of ['abc', 'negative', 'fraction', 'table']) {
      const runs = seen.filter((s) => s.jobId === jobId);
      expect(
        runs.map((s) => s.attempt),
        jobId,
      ).toEqual([1, 2]);
      const retried = runs[1]?.headers ?? {};
      expect(retried[HEADERS.attempt], jobId).toBe(2);
      const headers = byId.get(jobId)?.properties.headers ?? {};
      expect(headers, jobId).toMatchObject({ [HEADERS.reason]: 'exhausted', [HEADERS.attempt]: 2 });
      for (const copy of [retried, headers]) {
        const firstFailure = Date.parse(String(copy[HEADERS.firstFailureAt]));
        expect(firstFailure, jobId).toBeGreaterThanOrEqual(before - 1_000);
        expect(firstFailure, jobId).toBeLessThanOrEqual(Date.parse(String(copy[HEADERS.lastFailureAt])));
      }
      expect(headers[HEADERS.firstFailureAt], jobId).toBe(retried[HEADERS.firstFailureAt]);
    }
    const abc = byId.get('abc')?.properties.headers ?? {};
    expect(String(abc[HEADERS.errorStack])).toContain('always fails (abc)');
    expect(abc).not.toHaveProperty([HEADERS.dueAt]);
    expect(abc[HEADERS.droppedHeaders]).toEqual([HEADERS.dueAt]);
  });

  // A reader that trusted the header would take 2^53 as the attempt and dead-letter the job at once as exhausted.
  it('runs an x-warren-attempt of 2^53 as attempt 1', async () => {
    const seen: Seen[] = [];
    harness = await startHarness([failingJob('huge.job', seen)], {
      config: { maxAttempts: 2, retryTiersMs: [300] },
    });
    const { namespace } = harness.config;
    // amqplib sends 2^53 as a 64-bit integer and decodes it as the number 2^53, which is no safe integer.
    await publishForeign(namespace, 'huge.job', [{ messageId: 'huge', headers: { [HEADERS.attempt]: 2 ** 53 } }]);
    const [dead] = await takeDeadLetters(namespace, 'huge.job', 1);
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(dead?.properties.headers).toMatchObject({ [HEADERS.reason]: 'exhausted', [HEADERS.attempt]: 2 });
  });

  it('dead-letters an x-warren-attempt of 2^53 with a safe attempt number, whichever attemptOf the consumer uses', async () => {
    const seen: Seen[] = [];
    harness = await startHarness([failingJob('huge2.job', seen)], {
      config: { maxAttempts: 2, retryTiersMs: [300] },
    });
    const { namespace } = harness.config;
    await publishForeign(namespace, 'huge2.job', [{ messageId: 'huge', headers: { [HEADERS.attempt]: 2 ** 53 } }]);
    const [dead] = await takeDeadLetters(namespace, 'huge2.job', 1);
    const attempt = dead?.properties.headers?.[HEADERS.attempt] as unknown;
    expect(Number.isSafeInteger(attempt)).toBe(true);
    await waitFor('the job queue to drain', async () => (await queueDepth(jobQueue(namespace, 'huge2.job'))) === 0);
  });
});
