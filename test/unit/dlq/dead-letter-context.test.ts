import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEADERS, readDeadLetterContext } from 'warren';
import { replayCopy } from '../../../src/dlq/replay-copy.js';
import { formatPeek, formatQueueTable } from '../../../src/cli/dlq-command.js';

const message = (properties: Record<string, unknown>, body = '{"to":"a@example.com"}') => ({
  content: Buffer.from(body),
  properties,
});

const warrenHeaders = {
  [HEADERS.reason]: 'exhausted',
  [HEADERS.attempt]: 3,
  [HEADERS.errorName]: 'TypeError',
  [HEADERS.errorMessage]: 'boom',
  [HEADERS.errorStack]: 'TypeError: boom\n    at handler',
  [HEADERS.firstFailureAt]: '2026-01-01T10:00:00.000Z',
  [HEADERS.lastFailureAt]: '2026-01-01T10:05:00.000Z',
  [HEADERS.originalQueue]: 'warren.job.email.send',
  [HEADERS.originalRoutingKey]: 'email.send',
  [HEADERS.workerHost]: 'worker-1',
  [HEADERS.workerPid]: 4242,
};

describe('readDeadLetterContext', () => {
  it("reads warren's dead letters from the x-warren-* headers", () => {
    const context = readDeadLetterContext(
      message({
        messageId: 'job-1',
        type: 'email.send',
        contentType: 'application/json',
        timestamp: 1_767_261_600,
        headers: warrenHeaders,
      }),
    );
    expect(context).toEqual({
      messageId: 'job-1',
      identity: 'job-1|2026-01-01T10:05:00.000Z',
      source: 'warren',
      reason: 'exhausted',
      attempts: 3,
      errorName: 'TypeError',
      errorMessage: 'boom',
      errorStack: 'TypeError: boom\n    at handler',
      firstFailureAt: '2026-01-01T10:00:00.000Z',
      lastFailureAt: '2026-01-01T10:05:00.000Z',
      originalQueue: 'warren.job.email.send',
      originalRoutingKey: 'email.send',
      workerHost: 'worker-1',
      workerPid: 4242,
      deaths: undefined,
      replayOf: undefined,
      type: 'email.send',
      contentType: 'application/json',
      publishedAt: '2026-01-01T10:00:00.000Z',
      body: '{"to":"a@example.com"}',
      bodyEncoding: 'utf8',
      bodyBytes: 22,
    });
  });

  it("reads the broker's dead letters from the latest x-death entry, not x-first-death-reason", () => {
    // A job that waited in a retry tier (expired there), then crashed its worker past the delivery limit.
    const context = readDeadLetterContext(
      message({
        messageId: 'job-2',
        headers: {
          [HEADERS.attempt]: 2,
          [HEADERS.firstFailureAt]: '2026-01-01T09:00:00.000Z',
          [HEADERS.lastFailureAt]: '2026-01-01T09:00:00.000Z',
          'x-death': [
            {
              count: 1,
              reason: 'delivery_limit',
              queue: 'warren.job.report',
              time: { '!': 'timestamp', value: 1_767_261_600 },
              exchange: '',
              'routing-keys': ['1s.report'],
            },
            {
              count: 1,
              reason: 'expired',
              queue: 'warren.retry.1s',
              time: { '!': 'timestamp', value: 1_767_258_000 },
              exchange: 'warren.retry',
              'routing-keys': ['1s.report'],
            },
          ],
          'x-first-death-reason': 'expired',
          'x-first-death-queue': 'warren.retry.1s',
          'x-delivery-count': 0,
        },
      }),
    );
    expect(context).toMatchObject({
      source: 'broker',
      reason: 'delivery_limit',
      attempts: 2,
      lastFailureAt: '2026-01-01T10:00:00.000Z',
      firstFailureAt: '2026-01-01T09:00:00.000Z',
      identity: 'job-2|2026-01-01T10:00:00.000Z',
      originalQueue: 'warren.job.report',
      originalRoutingKey: '1s.report',
      deaths: 1,
    });
  });

  describe('a delivery_limit dead letter, with the delivery limit known', () => {
    // As RabbitMQ 3.10 hands it out of a quorum dead-letter queue after two peeks: its x-delivery-count is the
    // dead-letter queue's, not the job queue's.
    const crashed = (extra: Record<string, unknown> = {}, deathCount = 1) =>
      message({
        messageId: 'poison',
        headers: {
          'x-death': [
            {
              count: deathCount,
              reason: 'delivery_limit',
              queue: 'warren.job.crash',
              time: { '!': 'timestamp', value: 1_767_261_600 },
              exchange: '',
              'routing-keys': ['crash'],
            },
          ],
          'x-first-death-reason': 'delivery_limit',
          'x-first-death-queue': 'warren.job.crash',
          'x-delivery-count': 2,
          ...extra,
        },
      });

    it('was delivered limit + 1 times, the last of them attempt limit + 1; x-delivery-count is not read', () => {
      expect(readDeadLetterContext(crashed(), { deliveryLimit: 3 })).toMatchObject({
        reason: 'delivery_limit',
        deliveries: 4,
        attempts: 4,
        deaths: 1,
      });
    });

    it('counts from the attempt it had reached (retried before it started crashing) and every death', () => {
      expect(readDeadLetterContext(crashed({ [HEADERS.attempt]: 3 }), { deliveryLimit: 5 })).toMatchObject({
        deliveries: 6,
        attempts: 8,
      });
      expect(readDeadLetterContext(crashed({}, 2), { deliveryLimit: 3 })).toMatchObject({ deliveries: 8 });
    });

    it('without the limit, or for warren’s own dead letters, there is no delivery count', () => {
      expect(readDeadLetterContext(crashed())).toMatchObject({ deliveries: undefined, attempts: 1 });
      expect(readDeadLetterContext(message({ headers: warrenHeaders }), { deliveryLimit: 3 })).toMatchObject({
        deliveries: undefined,
        attempts: 3,
      });
    });

    it('warren dlq peek shows the deliveries, not "1 attempt"', () => {
      const text = (headers?: Record<string, unknown>) =>
        formatPeek([readDeadLetterContext(crashed(headers), { deliveryLimit: 3 })], 'warren.dead.crash', 1).split(
          '\n',
        )[0];
      expect(text()).toBe('#1  poison  delivery_limit, delivered 4 times');
      expect(text({ [HEADERS.attempt]: 2 })).toBe('#1  poison  delivery_limit, delivered 4 times, last attempt 5');
    });
  });

  it('falls back to x-first-death-* without x-death, and counts a crash before any handled failure as attempt 1', () => {
    const context = readDeadLetterContext(
      message({
        messageId: 'job-3',
        headers: { 'x-first-death-reason': 'delivery_limit', 'x-first-death-queue': 'warren.job.x' },
      }),
    );
    expect(context).toMatchObject({
      source: 'broker',
      reason: 'delivery_limit',
      attempts: 1,
      originalQueue: 'warren.job.x',
    });
  });

  it('names a dead letter without message id by the hash of its body; shows a binary body as base64', () => {
    const body = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
    const context = readDeadLetterContext({
      content: body,
      properties: {
        headers: { [HEADERS.reason]: 'invalid_payload', [HEADERS.lastFailureAt]: '2026-01-01T00:00:00.000Z' },
      },
    });
    expect(context.messageId).toBeUndefined();
    expect(context.identity).toBe(`sha256:${createHash('sha256').update(body).digest('hex')}|2026-01-01T00:00:00.000Z`);
    expect(context).toMatchObject({
      body: '//4AAQ==',
      bodyEncoding: 'base64',
      bodyBytes: 4,
      reason: 'invalid_payload',
    });
  });

  it('copes with a message put into the queue by hand: no headers at all', () => {
    const context = readDeadLetterContext(message({ messageId: 'm', timestamp: 0 }));
    expect(context).toMatchObject({
      source: 'unknown',
      reason: undefined,
      attempts: undefined,
      identity: 'm|1970-01-01T00:00:00.000Z',
    });
  });

  it('ignores header values of the wrong type instead of throwing', () => {
    const context = readDeadLetterContext(
      message({
        messageId: 7,
        headers: { [HEADERS.attempt]: 'three', [HEADERS.workerPid]: -1, 'x-death': 'nonsense' },
      }),
    );
    expect(context).toMatchObject({
      messageId: undefined,
      attempts: undefined,
      workerPid: undefined,
      source: 'unknown',
    });
  });
});

describe('replayCopy', () => {
  it('keeps body and properties, drops the failure context and the broker bookkeeping, records the identity', () => {
    const content = Buffer.from('{"n":1}');
    const copy = replayCopy(
      {
        content,
        properties: {
          messageId: 'job-1',
          type: 'email.send',
          timestamp: 1_767_261_600,
          contentType: 'application/json',
          correlationId: 'c-1',
          headers: {
            ...warrenHeaders,
            [HEADERS.replayOf]: 'job-1|earlier',
            [HEADERS.schedule]: 'nightly',
            'x-death': [{ reason: 'expired' }],
            'x-first-death-reason': 'expired',
            'x-last-death-queue': 'q',
            'x-delivery-count': 4,
            BCC: ['x'],
            'x-app-tag': 'kept',
          },
        },
      },
      'job-1|2026-01-01T10:05:00.000Z',
    );
    expect(copy.content).toBe(content);
    expect(copy.properties).toEqual({
      persistent: true,
      messageId: 'job-1',
      type: 'email.send',
      timestamp: 1_767_261_600,
      contentType: 'application/json',
      correlationId: 'c-1',
      headers: {
        [HEADERS.schedule]: 'nightly',
        'x-app-tag': 'kept',
        [HEADERS.replayOf]: 'job-1|2026-01-01T10:05:00.000Z',
      },
    });
  });
});

describe('formatQueueTable', () => {
  it('aligns the columns and marks queues not declared', () => {
    expect(
      formatQueueTable([
        { jobType: 'email.send', queue: 'warren.dead.email.send', messages: 3, declared: true },
        { jobType: 'report', queue: 'warren.dead.report', messages: 0, declared: false },
      ]),
    ).toBe(
      'JOB TYPE    DEAD-LETTER QUEUE       MESSAGES\n' +
        'email.send  warren.dead.email.send  3\n' +
        'report      warren.dead.report      0 (not declared)\n',
    );
  });
});
