import { EventEmitter } from 'node:events';
import type { ChannelModel, Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import {
  copyFailure,
  decideCopy,
  IDLE_END_MS,
  passIsOver,
  takesDelivery,
  type CopyAnswer,
} from '../../../src/dlq/dead-letter-replay-outcome.js';
import { ReplayPass, type ReplayPassOptions } from '../../../src/dlq/dead-letter-replay-pass.js';

describe('decideCopy: only a confirmed copy removes its dead letter', () => {
  it.each<[CopyAnswer, string, boolean, boolean]>([
    ['confirmed', 'replayed', true, false],
    ['nacked', 'rejected', false, true],
    ['returned', 'unroutable', false, true],
    ['timed-out', 'indeterminate', false, true],
    ['lost', 'indeterminate', false, true],
  ])('%s → %s (acknowledge %s, stop %s)', (answer, outcome, acknowledge, stop) => {
    expect(decideCopy(answer)).toEqual({ outcome, acknowledge, stop });
  });

  it('names each failure with its code, the dead letter and where it stays', () => {
    const facts = {
      label: 'dead letter dl-7 of "email.send"',
      deadLetterQueue: 'warren.dead.email.send',
      jobQueue: 'warren.job.email.send',
      exchange: 'warren.requeue',
      routingKey: 'replay.email.send',
      publishTimeoutMs: 500,
    };
    const codes = (['nacked', 'returned', 'timed-out', 'lost'] as const).map((answer) => {
      const error = copyFailure(answer, facts);
      expect(error.message).toContain('dead letter dl-7 of "email.send"');
      expect(error.message).toContain('the dead letter stays in warren.dead.email.send');
      return (error as Error & { code: string }).code;
    });
    expect(codes).toEqual([
      'WARREN_ERR_PUBLISH_REJECTED',
      'WARREN_ERR_UNROUTABLE',
      'WARREN_ERR_PUBLISH_TIMEOUT',
      'WARREN_ERR_CONNECTION',
    ]);
  });
});

describe('takesDelivery and passIsOver', () => {
  const state = { taken: 3, total: 10, inFlight: 0, stopping: false, idleMs: 0 };
  it('takes deliveries until the total or a stop', () => {
    expect(takesDelivery(state)).toBe(true);
    expect(takesDelivery({ ...state, taken: 10 })).toBe(false);
    expect(takesDelivery({ ...state, stopping: true })).toBe(false);
  });
  it('is over only with nothing in flight: at the total, when stopping, or when the queue ran dry', () => {
    expect(passIsOver(state)).toBe(false);
    expect(passIsOver({ ...state, taken: 10 })).toBe(true);
    expect(passIsOver({ ...state, taken: 10, inFlight: 1 })).toBe(false);
    expect(passIsOver({ ...state, stopping: true })).toBe(true);
    expect(passIsOver({ ...state, stopping: true, inFlight: 2 })).toBe(false);
    expect(passIsOver({ ...state, idleMs: IDLE_END_MS + 1 })).toBe(true);
  });
});

/** How the fake broker answers the copy of the dead letter with a message id. */
type Answer = 'ack' | 'nack' | 'return-then-ack' | { readonly ackAfterMs: number } | 'never';

/**
 * The part of amqplib's channels a pass uses, enough to drive it without a broker: the dead-letter channel hands out
 * `deadLetters` (one delivery each, up to the prefetch until acknowledgements make room) and records
 * acknowledgements; the confirm channel answers each copy as `answers` says (`ack` by default).
 */
function fakeBroker(deadLetters: readonly string[], answers: Readonly<Record<string, Answer>> = {}) {
  const acked: string[] = [];
  const published: string[] = [];
  const sent: Map<string, { content: string; contentType: unknown }> = new Map();
  let prefetch = Infinity;
  let onMessage: ((message: Message | null) => void) | undefined;
  let next = 0;
  let held = 0;
  const deliverMore = (): void => {
    while (onMessage && held < prefetch && next < deadLetters.length) {
      const messageId = deadLetters[next++] ?? '';
      held += 1;
      onMessage({
        content: Buffer.from('{}'),
        fields: { deliveryTag: next, redelivered: false, exchange: '', routingKey: '', consumerTag: 'c' },
        properties: { messageId, headers: {} },
      } as unknown as Message);
    }
  };
  const deadChannel = Object.assign(new EventEmitter(), {
    prefetch: async (count: number) => void (prefetch = count),
    consume: async (_queue: string, callback: (message: Message | null) => void) => {
      onMessage = callback;
      setImmediate(deliverMore);
      return { consumerTag: 'c' };
    },
    cancel: async () => void (onMessage = undefined),
    ack: (message: Message) => {
      acked.push(String(message.properties.messageId));
      held -= 1;
      setImmediate(deliverMore);
    },
    close: async () => {},
  });
  const copies = Object.assign(new EventEmitter(), {
    publish: (
      _exchange: string,
      _routingKey: string,
      content: Buffer,
      properties: { messageId?: string; contentType?: unknown },
      callback: (err: Error | null) => void,
    ) => {
      const id = properties.messageId ?? '';
      published.push(id);
      sent.set(id, { content: content.toString(), contentType: properties.contentType });
      const answer = answers[id] ?? 'ack';
      if (answer === 'never') return true;
      if (typeof answer === 'object') setTimeout(() => callback(null), answer.ackAfterMs);
      else
        setImmediate(() => {
          if (answer === 'return-then-ack') copies.emit('return', { properties });
          callback(answer === 'nack' ? new Error('message nacked') : null);
        });
      return true;
    },
    close: async () => {},
  });
  const model = {
    createChannel: async () => deadChannel,
    createConfirmChannel: async () => copies,
  } as unknown as ChannelModel;
  return { model, acked, published, copies: sent };
}

function passOptions(total: number, overrides: Partial<ReplayPassOptions> = {}): ReplayPassOptions {
  return {
    jobType: 'email.send',
    deadLetterQueue: 'warren.dead.email.send',
    jobQueue: 'warren.job.email.send',
    exchange: 'warren.requeue',
    routingKey: 'replay.email.send',
    total,
    maxUnconfirmed: 3,
    publishTimeoutMs: 1_000,
    deliveryLimit: 5,
    ...overrides,
  };
}

const ids = (count: number): string[] => Array.from({ length: count }, (_, n) => `dl-${n}`);

describe('ReplayPass (fake channels)', () => {
  it('acknowledges each dead letter after its own confirm, and reports the hook before that ack', async () => {
    const broker = fakeBroker(ids(10));
    const confirms: Array<[number, number]> = [];
    const pass = await ReplayPass.open(
      broker.model,
      broker.model,
      passOptions(10, { afterConfirm: (confirmed) => confirms.push([confirmed, broker.acked.length]) }),
    );
    const result = await pass.run();
    expect(result).toMatchObject({ taken: 10, failure: undefined, interrupted: false });
    expect(result.counts).toEqual({ replayed: 10, rejected: 0, unroutable: 0, indeterminate: 0 });
    expect([...broker.acked].sort()).toEqual(ids(10).sort());
    // The hook runs after the nth confirm, when n - 1 dead letters are acknowledged.
    expect(confirms).toEqual(ids(10).map((_, n) => [n + 1, n]));
  });

  it('a copy not confirmed in time is indeterminate: its dead letter is never acknowledged, even after a late confirm', async () => {
    const broker = fakeBroker(ids(10), { 'dl-4': { ackAfterMs: 150 } });
    const pass = await ReplayPass.open(broker.model, broker.model, passOptions(10, { publishTimeoutMs: 50 }));
    const result = await pass.run();
    expect(result.failure).toMatchObject({ code: 'WARREN_ERR_PUBLISH_TIMEOUT' });
    expect(result.counts.indeterminate).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the late confirm has come by now
    expect(broker.acked).not.toContain('dl-4');
    expect(broker.acked.length).toBe(result.counts.replayed);
  });

  it('a copy that never gets an answer stops the pass after the timeout, without acknowledging it', async () => {
    const broker = fakeBroker(ids(5), { 'dl-0': 'never' });
    const result = await (
      await ReplayPass.open(broker.model, broker.model, passOptions(5, { publishTimeoutMs: 30 }))
    ).run();
    expect(result.failure).toMatchObject({ code: 'WARREN_ERR_PUBLISH_TIMEOUT' });
    expect(broker.acked).not.toContain('dl-0');
  });

  it('a nacked copy leaves its dead letter and stops the pass', async () => {
    const broker = fakeBroker(ids(10), { 'dl-2': 'nack' });
    const result = await (await ReplayPass.open(broker.model, broker.model, passOptions(10))).run();
    expect(result.failure).toMatchObject({ code: 'WARREN_ERR_PUBLISH_REJECTED' });
    expect(result.counts.rejected).toBe(1);
    expect(broker.acked).not.toContain('dl-2');
    expect(result.taken).toBeLessThan(10);
    expect(result.counts.replayed + result.counts.rejected).toBe(result.taken);
  });

  it('a return before the confirm leaves the dead letter: the copy reached no queue', async () => {
    const broker = fakeBroker(ids(6), { 'dl-1': 'return-then-ack' });
    const result = await (
      await ReplayPass.open(broker.model, broker.model, passOptions(6, { maxUnconfirmed: 1 }))
    ).run();
    expect(result.failure).toMatchObject({ code: 'WARREN_ERR_UNROUTABLE' });
    expect(broker.acked).toEqual(['dl-0']);
    expect(result.counts).toMatchObject({ replayed: 1, unroutable: 1 });
  });

  it('takes no more than its total, and none after its signal is aborted', async () => {
    const broker = fakeBroker(ids(20));
    const limited = await (await ReplayPass.open(broker.model, broker.model, passOptions(7))).run();
    expect(limited).toMatchObject({ taken: 7, interrupted: false });
    expect(broker.acked).toHaveLength(7);

    const stopped = fakeBroker(ids(20));
    const controller = new AbortController();
    const result = await (
      await ReplayPass.open(
        stopped.model,
        stopped.model,
        passOptions(20, {
          signal: controller.signal,
          onProgress: ({ replayed }) => void (replayed === 5 && controller.abort()),
        }),
      )
    ).run();
    expect(result.interrupted).toBe(true);
    expect(result.failure).toBeUndefined();
    // What was in flight at the abort is settled normally; nothing more is taken.
    expect(result.taken).toBeLessThanOrEqual(5 + 3);
    expect(stopped.acked).toHaveLength(result.taken);
  });

  it('with message ids, takes the first dead letter of each and leaves the others unacknowledged', async () => {
    const broker = fakeBroker(['dl-0', 'dl-1', 'dl-2', 'dl-1', 'dl-3', 'dl-4']);
    const pass = await ReplayPass.open(
      broker.model,
      broker.model,
      passOptions(2, { messageIds: new Set(['dl-3', 'dl-1']), prefetch: 10 }),
    );
    const result = await pass.run();
    expect(result).toMatchObject({ taken: 2, failure: undefined, notFound: [] });
    expect(broker.published.sort()).toEqual(['dl-1', 'dl-3']);
    expect(broker.acked.sort()).toEqual(['dl-1', 'dl-3']);
  });

  it('with message ids, looks no further than its prefetch and names the ids it did not find', async () => {
    const broker = fakeBroker(['dl-0', 'dl-1', 'dl-2', 'dl-3', 'dl-4']);
    const started = Date.now();
    const result = await (
      await ReplayPass.open(
        broker.model,
        broker.model,
        passOptions(2, { messageIds: new Set(['dl-1', 'dl-4']), prefetch: 3 }),
      )
    ).run();
    // dl-0 and dl-2 hold two of the three places; dl-1 frees its own, dl-3 takes it: dl-4 is never delivered.
    expect(result).toMatchObject({ taken: 1, notFound: ['dl-4'] });
    expect(broker.acked).toEqual(['dl-1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_END_MS);
  });

  it('with bodies, publishes the edited body of that dead letter as JSON, and the others as they were', async () => {
    const broker = fakeBroker(['dl-0', 'dl-1']);
    const result = await (
      await ReplayPass.open(
        broker.model,
        broker.model,
        passOptions(2, {
          messageIds: new Set(['dl-0', 'dl-1']),
          bodies: new Map([['dl-1', Buffer.from('{"fixed":true}')]]),
          prefetch: 10,
        }),
      )
    ).run();
    expect(result.counts.replayed).toBe(2);
    expect(broker.copies.get('dl-0')).toEqual({ content: '{}', contentType: undefined });
    expect(broker.copies.get('dl-1')).toEqual({ content: '{"fixed":true}', contentType: 'application/json' });
  });
});
