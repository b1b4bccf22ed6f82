import type { ConsumeMessage, Options } from 'amqplib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { VerdictApplier, type DeliveryOutcome, type SettleChannel } from '../../../src/consumer/verdict-applier.js';
import {
  DEFER,
  GIVE_BACK,
  SUCCESS,
  SUCCESS_RECORDED,
  failureVerdict,
  invalidPayload,
} from '../../../src/consumer/verdict.js';
import type { DeliveryIdentity } from '../../../src/consumer/delivery-runner.js';
import { HEADERS } from '../../../src/messages/headers.js';
import { delivery } from '../../helpers/fake-delivery.js';

/** Records every settle, in order, with the channel's settle methods. */
class RecordingChannel implements SettleChannel {
  readonly settles: string[] = [];
  ack(message: ConsumeMessage): void {
    this.settles.push(`ack ${message.fields.deliveryTag}`);
  }
  reject(message: ConsumeMessage, requeue?: boolean): void {
    this.settles.push(`reject ${message.fields.deliveryTag} requeue=${String(requeue)}`);
  }
  nack(message: ConsumeMessage, allUpTo?: boolean, requeue?: boolean): void {
    this.settles.push(`nack ${message.fields.deliveryTag} requeue=${String(requeue)}`);
  }
}

interface Sent {
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: Options.Publish;
}

/** Confirms (or refuses) every send, like the publisher's `send`. */
class FakePublisher {
  readonly sent: Sent[] = [];
  fail: Error | undefined;
  send(exchange: string, routingKey: string, _content: Buffer, properties: Options.Publish): Promise<void> {
    this.sent.push({ exchange, routingKey, properties });
    return this.fail ? Promise.reject(this.fail) : Promise.resolve();
  }
}

function setup(options: { live?: boolean } = {}) {
  const channel = new RecordingChannel();
  const publisher = new FakePublisher();
  const outcomes: DeliveryOutcome[] = [];
  const held: string[] = [];
  const order: string[] = [];
  const applier = new VerdictApplier<RecordingChannel>({
    namespace: 'ns',
    jobType: 'test.job',
    queue: 'ns.job.test.job',
    publisher,
    dedup: {
      markDone: (jobType, messageId) => {
        order.push(`markDone ${jobType} ${messageId}`);
        return Promise.resolve(true);
      },
    },
    logger: pino({ level: 'silent' }),
    metrics: undefined,
    isLive: () => options.live ?? true,
    onHold: (_channel, _message, id) => void held.push(id.jobId),
    onOutcome: (outcome) => {
      order.push(outcome);
      outcomes.push(outcome);
    },
  });
  return { channel, publisher, outcomes, held, order, applier };
}

const id: DeliveryIdentity = {
  jobId: 'job-1',
  hasId: true,
  attempt: 2,
  headers: { 'x-delivery-count': 1, app: 'kept' },
};
const policy = { maxAttempts: 5, tiersMs: [1_000, 30_000] };

describe('VerdictApplier', () => {
  it('acks a success synchronously', () => {
    const { channel, applier, outcomes } = setup();
    expect(applier.apply(channel, delivery({}), id, SUCCESS)).toBeUndefined();
    expect(channel.settles).toEqual(['ack 1']);
    expect(outcomes).toEqual(['success']);
  });

  it('records an idempotent success for de-duplication before it acks', async () => {
    const { channel, applier, order } = setup();
    await applier.apply(channel, delivery({}), id, SUCCESS_RECORDED);
    expect(order).toEqual(['markDone test.job job-1', 'success']);
    expect(channel.settles).toEqual(['ack 1']);
  });

  it('acks a retry only after its copy to the tier is confirmed, with the error context and the next attempt', async () => {
    const { channel, publisher, applier, outcomes } = setup();
    const verdict = failureVerdict(new Error('flaky'), { attempt: 2, abortedByShutdown: false }, policy);
    const pending = applier.apply(channel, delivery({}), id, verdict);
    expect(channel.settles).toEqual([]);
    await pending;
    expect(publisher.sent).toHaveLength(1);
    const [copy] = publisher.sent;
    expect(copy).toMatchObject({ exchange: 'ns.retry', routingKey: '30s.test.job' });
    expect(copy?.properties).toMatchObject({ messageId: 'job-1', persistent: true, mandatory: true });
    expect(copy?.properties.headers).toMatchObject({
      app: 'kept',
      [HEADERS.attempt]: 3,
      [HEADERS.errorMessage]: 'flaky',
      [HEADERS.originalQueue]: 'ns.job.test.job',
    });
    expect(copy?.properties.headers).not.toHaveProperty('x-delivery-count');
    expect(channel.settles).toEqual(['ack 1']);
    expect(outcomes).toEqual(['retry']);
  });

  it('rejects (counted toward the delivery limit) when a copy is not confirmed', async () => {
    const { channel, publisher, applier, outcomes } = setup();
    publisher.fail = new Error('nacked');
    await applier.apply(channel, delivery({}), id, invalidPayload('bad'));
    expect(publisher.sent[0]).toMatchObject({ exchange: 'ns.dead', routingKey: 'test.job' });
    expect(channel.settles).toEqual(['reject 1 requeue=true']);
    expect(outcomes).toEqual(['requeued']);
  });

  it('gives a job back with nack, which RabbitMQ 4.3 does not count', () => {
    const { channel, applier, outcomes } = setup();
    expect(applier.apply(channel, delivery({}), id, GIVE_BACK)).toBeUndefined();
    expect(channel.settles).toEqual(['nack 1 requeue=true']);
    expect(outcomes).toEqual(['requeued']);
  });

  it('defers a suspect by a confirmed copy to the back of its queue, counting the returns, then acks it', async () => {
    const { channel, publisher, applier, outcomes } = setup();
    await applier.apply(channel, delivery({}, { redelivered: true }), id, DEFER);
    const [copy] = publisher.sent;
    expect(copy).toMatchObject({ exchange: 'ns.requeue', routingKey: 'suspect.test.job' });
    expect(copy?.properties.headers).toEqual({ app: 'kept', [HEADERS.attempt]: 2, [HEADERS.suspect]: 1 });
    expect(channel.settles).toEqual(['ack 1']);
    expect(outcomes).toEqual(['deferred']);
  });

  it('holds a suspect whose deferring copy was not confirmed, unsettled', async () => {
    const { channel, publisher, applier, held, outcomes } = setup();
    publisher.fail = new Error('timed out');
    await applier.apply(channel, delivery({}, { redelivered: true }), id, DEFER);
    expect(channel.settles).toEqual([]);
    expect(held).toEqual(['job-1']);
    expect(outcomes).toEqual(['held']);
  });

  it('a retry copy of a suspect that ran alone is no longer a suspect', async () => {
    const { channel, publisher, applier } = setup();
    const suspect = { ...id, headers: { [HEADERS.suspect]: 2 } };
    await applier.apply(
      channel,
      delivery({}),
      suspect,
      failureVerdict(new Error('x'), { attempt: 2, abortedByShutdown: false }, policy),
    );
    expect(publisher.sent[0]?.properties.headers).not.toHaveProperty(HEADERS.suspect);
  });

  it('drops and counts a settle for a channel that has closed', () => {
    const { channel, applier, outcomes } = setup({ live: false });
    expect(applier.apply(channel, delivery({}), id, SUCCESS)).toBeUndefined();
    expect(channel.settles).toEqual([]);
    expect(applier.staleSettles).toBe(1);
    expect(outcomes).toEqual(['stale']);
  });
});
