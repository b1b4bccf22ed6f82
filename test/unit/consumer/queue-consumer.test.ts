import { EventEmitter } from 'node:events';
import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerConnection } from '../../../src/connection/broker-connection.js';
import type { Publisher } from '../../../src/publisher/publisher.js';
import { QueueConsumer } from '../../../src/consumer/queue-consumer.js';
import { DEFAULT_CONFIG } from '../../../src/config/config-options.js';
import { defineJob } from '../../../src/registry/define-job.js';
import { waitFor } from '../../helpers/broker.js';
import { delivery } from '../../helpers/fake-delivery.js';

type ChannelPart = Pick<
  Channel,
  | 'assertExchange'
  | 'assertQueue'
  | 'bindQueue'
  | 'bindExchange'
  | 'prefetch'
  | 'consume'
  | 'cancel'
  | 'ack'
  | 'nack'
  | 'reject'
  | 'close'
>;

/**
 * The part of an amqplib channel a consumer uses, with the broker's side of it. As in amqplib, a frame the process
 * sends (a settle, a cancel, a qos) leaves on a later turn of the event loop (its Mux writes on `setImmediate`): a
 * settle is sent when `ack` returns, and received only then. An RPC resolves once the broker has had it, and so every
 * frame sent before it.
 */
class FakeChannel extends EventEmitter implements ChannelPart {
  /** Delivery tags the broker counts as unacknowledged on this channel: what a crash now would hand back. */
  readonly unacked = new Set<number>();
  /** The frames the broker received, in order. */
  readonly received: string[] = [];
  /** Settles called after the channel closed (the broker has those deliveries back already). */
  readonly settledAfterClose: string[] = [];
  #outbox: Array<() => void> = [];
  #consumer: ((message: ConsumeMessage | null) => void) | undefined;
  #closed = false;

  get consuming(): boolean {
    return this.#consumer !== undefined;
  }

  /** The broker delivers a message to the consumer. */
  deliver(tag: number, body: unknown, redelivered: boolean): void {
    const message = delivery(body, { messageId: `job-${tag}`, redelivered });
    const consumer = this.#consumer;
    if (consumer === undefined) throw new Error(`no consumer to deliver ${tag} to`);
    this.unacked.add(tag);
    consumer({ ...message, fields: { ...message.fields, deliveryTag: tag, consumerTag: 'ctag' } });
  }

  assertExchange(exchange: string): Promise<{ exchange: string }> {
    return Promise.resolve({ exchange });
  }
  assertQueue(queue: string): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    return Promise.resolve({ queue, messageCount: 0, consumerCount: 0 });
  }
  bindQueue(): Promise<Record<string, never>> {
    return Promise.resolve({});
  }
  bindExchange(): Promise<Record<string, never>> {
    return Promise.resolve({});
  }
  prefetch(count: number): Promise<Record<string, never>> {
    return this.#rpc(`qos ${count}`, () => {}).then(() => ({}));
  }
  consume(_queue: string, onMessage: (message: ConsumeMessage | null) => void): Promise<{ consumerTag: string }> {
    return this.#rpc('consume', () => (this.#consumer = onMessage)).then(() => ({ consumerTag: 'ctag' }));
  }
  cancel(): Promise<{ consumerTag: string }> {
    return this.#rpc('cancel', () => (this.#consumer = undefined)).then(() => ({ consumerTag: 'ctag' }));
  }
  ack(message: ConsumeMessage): void {
    this.#settle('ack', message);
  }
  nack(message: ConsumeMessage): void {
    this.#settle('nack', message);
  }
  reject(message: ConsumeMessage): void {
    this.#settle('reject', message);
  }
  close(): Promise<void> {
    this.#closed = true;
    this.#consumer = undefined;
    this.emit('close');
    return Promise.resolve();
  }

  #settle(how: string, message: ConsumeMessage): void {
    const { deliveryTag } = message.fields;
    if (this.#closed) {
      this.settledAfterClose.push(`${how} ${deliveryTag}`);
      return;
    }
    this.#send(`${how} ${deliveryTag}`, () => this.unacked.delete(deliveryTag));
  }

  #send(frame: string, apply: () => void): void {
    if (this.#closed) return;
    const first = this.#outbox.push(() => {
      this.received.push(frame);
      apply();
    });
    if (first === 1) setImmediate(() => this.#outbox.splice(0).forEach((each) => each()));
  }

  #rpc(frame: string, apply: () => void): Promise<void> {
    return new Promise((resolve) =>
      this.#send(frame, () => {
        apply();
        resolve();
      }),
    );
  }
}

/** A publisher whose confirms the test hands out one by one, as a broker round trip would. */
class FakePublisher {
  readonly sent: Array<{ exchange: string; routingKey: string; messageId: unknown }> = [];
  readonly #confirms: Array<() => void> = [];
  send(exchange: string, routingKey: string, _content: Buffer, properties: Options.Publish): Promise<string> {
    this.sent.push({ exchange, routingKey, messageId: properties.messageId });
    return new Promise((resolve) => this.#confirms.push(() => resolve(String(properties.messageId))));
  }
  confirmNext(): void {
    const confirm = this.#confirms.shift();
    if (confirm === undefined) throw new Error('no publish waits for its confirm');
    confirm();
  }
}

/** Resolves when `release` is called: a handler that runs until the test says. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release = (): void => {};
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

interface Started {
  readonly tag: number;
  /** What the broker counted as unacknowledged when the handler started. */
  readonly unackedAtStart: number[];
}

let consumer: QueueConsumer | undefined;
afterEach(async () => {
  await consumer?.close();
  consumer = undefined;
});

/** A consumer of `test.job` (concurrency 1, prefetch 2) on fake channels; handlers wait for `release(tag)`. */
async function start(): Promise<{
  channel: () => FakeChannel;
  channels: FakeChannel[];
  publisher: FakePublisher;
  started: Started[];
  release: (tag: number) => void;
}> {
  const channels: FakeChannel[] = [];
  const model = {
    createChannel: () => {
      const channel = new FakeChannel();
      channels.push(channel);
      return Promise.resolve(channel);
    },
  } as unknown as ChannelModel;
  // ManagedChannel and QueueConsumer use the manager's connection and 'connect' listeners, and the node's name.
  const manager = Object.assign(new EventEmitter(), { connection: model });
  const connection = { manager, node: 'fake:5672' } as unknown as BrokerConnection;
  const channel = (): FakeChannel => {
    const found = channels.findLast((each) => each.consuming || each.listenerCount('close') > 0);
    if (found === undefined) throw new Error('no consumer channel');
    return found;
  };
  const publisher = new FakePublisher();
  const started: Started[] = [];
  const runs = new Map<number, ReturnType<typeof gate>>();
  const runOf = (tag: number): ReturnType<typeof gate> => {
    const existing = runs.get(tag);
    if (existing) return existing;
    const created = gate();
    runs.set(tag, created);
    return created;
  };
  const job = defineJob(
    'test.job',
    async (payload: { tag: number }) => {
      started.push({ tag: payload.tag, unackedAtStart: [...channel().unacked].sort((a, b) => a - b) });
      await runOf(payload.tag).promise;
    },
    { concurrency: 1, prefetch: 2 },
  );
  consumer = new QueueConsumer(connection, job, {
    settings: { ...DEFAULT_CONFIG, namespace: 'unit' },
    publisher: publisher as unknown as Publisher,
    jobTimeoutMs: 60_000,
    logger: pino({ level: 'silent' }),
    publishChild: () => Promise.reject(new Error('no child jobs here')),
  });
  await consumer.start();
  return { channel, channels, publisher, started, release: (tag) => runOf(tag).release() };
}

describe('QueueConsumer at a prefetch above its concurrency (1 and 2)', () => {
  it('runs a suspect alone only once the broker has the ack of the one deferred beside it', async () => {
    const { channel, publisher, started, release } = await start();
    const ch = channel();
    // After a crash: the poison and the job that waited beside it both come back.
    ch.deliver(1, { tag: 1 }, true);
    ch.deliver(2, { tag: 2 }, true);
    await waitFor('the cancel received', () => ch.received.includes('cancel'), 2_000, 1);
    // The deferred copy of 2 is confirmed after the cancel, as over a network: its ack goes in the same turn in
    // which nothing is left in flight.
    publisher.confirmNext();
    await waitFor('the suspect started', () => started.length === 1, 2_000, 1);
    expect(publisher.sent.map((sent) => sent.messageId)).toEqual(['job-2']);
    // A crash now hands back the suspect alone.
    expect(started[0]).toEqual({ tag: 1, unackedAtStart: [1] });
    expect(ch.received.indexOf('ack 2')).toBeLessThan(ch.received.lastIndexOf(`qos 2`));
    release(1);
    await waitFor('the suspect acked', () => ch.received.includes('ack 1'), 2_000, 1);
  });

  it('runs a suspect alone only after the job waiting for the slot ran, and the broker has both acks', async () => {
    const { channel, started, release } = await start();
    const ch = channel();
    ch.deliver(1, { tag: 1 }, false); // runs
    ch.deliver(2, { tag: 2 }, false); // waits for the slot
    await waitFor('job 1 started', () => started.length === 1, 2_000, 1);
    expect(consumer?.waiting).toBe(1);
    ch.deliver(3, { tag: 3 }, true); // a suspect, on its way before the prefetch was full
    await waitFor('the cancel received', () => ch.received.includes('cancel'), 2_000, 1);
    release(1);
    await waitFor('job 2 started', () => started.length === 2, 2_000, 1);
    expect(started[1]?.tag).toBe(2);
    release(2);
    await waitFor('the suspect started', () => started.length === 3, 2_000, 1);
    expect(started[2]).toEqual({ tag: 3, unackedAtStart: [3] });
    release(3);
    // Consuming resumes at prefetch 1, on a new consumer.
    await waitFor('consuming again', () => ch.consuming, 2_000, 1);
    expect(ch.received.slice(ch.received.indexOf('ack 3'))).toEqual(['ack 3', 'qos 1', 'consume']);
  });

  it('drops the deliveries waiting for a slot when their channel closes: never run, never settled on it', async () => {
    const { channel, channels, started, release } = await start();
    const ch = channel();
    ch.deliver(1, { tag: 1 }, false);
    ch.deliver(2, { tag: 2 }, false);
    await waitFor('job 1 started', () => started.length === 1, 2_000, 1);
    expect(consumer?.waiting).toBe(1);
    await ch.close(); // the broker has 1 and 2 back
    expect(consumer?.waiting).toBe(0);
    release(1);
    await waitFor('a new consumer channel', () => channels.some((each) => each !== ch && each.consuming), 5_000, 5);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started.map((each) => each.tag)).toEqual([1]);
    expect(ch.settledAfterClose).toEqual([]);
    expect(consumer?.staleSettles).toBe(1); // job 1's ack, dropped
  });
});
