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
import { ChildJobs, type ChildJob } from '../../../src/consumer/child-jobs.js';
import { JobEvents, type JobEventMap } from '../../../src/consumer/job-events.js';
import { delivery } from '../../helpers/fake-delivery.js';

const policy = { maxAttempts: 5, tiersMs: [1_000, 30_000] };

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
  send(exchange: string, routingKey: string, _content: Buffer, properties: Options.Publish): Promise<string> {
    this.sent.push({ exchange, routingKey, properties });
    return this.fail ? Promise.reject(this.fail) : Promise.resolve(String(properties.messageId ?? ''));
  }
}

function setup(options: { live?: boolean; failChild?: (child: ChildJob) => Error | undefined } = {}) {
  const channel = new RecordingChannel();
  const publisher = new FakePublisher();
  const outcomes: DeliveryOutcome[] = [];
  const held: string[] = [];
  const order: string[] = [];
  const events = new JobEvents(pino({ level: 'silent' }));
  const emitted: Array<[string, unknown]> = [];
  for (const name of ['started', 'succeeded', 'retried', 'dead-lettered'] as const)
    events.on(name, (event: JobEventMap[typeof name]) => void emitted.push([name, event]));
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
    publishChild: async (child) => {
      order.push(`child ${child.options.messageId}`);
      await Promise.resolve();
      const failure = options.failChild?.(child);
      if (failure) throw failure;
      order.push(`confirmed ${child.options.messageId}`);
      return child.options.messageId;
    },
    retryPolicy: policy,
    events,
  });
  return { channel, publisher, outcomes, held, order, applier, emitted };
}

/** A success verdict carrying the children a handler of job-1 published. */
function withChildren(publish: (children: ChildJobs) => void, recordDone = false) {
  const children = new ChildJobs('job-1');
  publish(children);
  return { kind: 'ack' as const, outcome: 'success' as const, recordDone, children: children.list };
}

const id: DeliveryIdentity = {
  jobId: 'job-1',
  hasId: true,
  attempt: 2,
  headers: { 'x-delivery-count': 1, app: 'kept' },
};

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

  it('acks a success only after every child job is confirmed, and records it for de-duplication between', async () => {
    const { channel, applier, order, emitted } = setup();
    const verdict = withChildren((c) => {
      c.add('email.send', { to: 'a' });
      c.add('email.send', { to: 'b' }, { key: 'second' });
    }, true);
    await applier.apply(channel, delivery({}), id, verdict);
    expect(order.slice(0, 2).sort()).toEqual(['child job-1/1', 'child job-1/second']);
    expect(order.slice(2, 4).sort()).toEqual(['confirmed job-1/1', 'confirmed job-1/second']);
    expect(order.slice(4)).toEqual(['markDone test.job job-1', 'success']);
    expect(channel.settles).toEqual(['ack 1']);
    expect(emitted.map(([name]) => name)).toEqual(['succeeded']);
  });

  it('fails the attempt (a confirmed retry copy, then the ack) when a child is not confirmed, never acking it as done', async () => {
    const { channel, publisher, applier, outcomes, emitted } = setup({
      failChild: (child) => (child.options.messageId === 'job-1/2' ? new Error('returned: no queue') : undefined),
    });
    const verdict = withChildren((c) => {
      c.add('a.job', {});
      c.add('b.job', {});
    });
    await applier.apply(channel, delivery({}), id, verdict);
    expect(publisher.sent).toHaveLength(1);
    expect(publisher.sent[0]).toMatchObject({ exchange: 'ns.retry', routingKey: '30s.test.job' });
    expect(publisher.sent[0]?.properties.headers).toMatchObject({
      [HEADERS.errorName]: 'ChildPublishError',
      [HEADERS.attempt]: 3,
    });
    expect(String(publisher.sent[0]?.properties.headers?.[HEADERS.errorMessage])).toContain(
      '1 of 2 child jobs were not confirmed, so job job-1 is not acknowledged; the first, b.job job-1/2: returned: no queue',
    );
    expect(outcomes).toEqual(['retry']);
    expect(channel.settles).toEqual(['ack 1']);
    expect(emitted.map(([name]) => name)).toEqual(['retried']);
  });

  it('emits retried and dead-lettered only once their copy is confirmed, with the job and the error', async () => {
    const { channel, publisher, applier, emitted } = setup();
    const error = new Error('flaky');
    await applier.apply(
      channel,
      delivery({}),
      id,
      failureVerdict(error, { attempt: 2, abortedByShutdown: false }, policy),
    );
    expect(emitted).toEqual([
      [
        'retried',
        {
          jobId: 'job-1',
          jobType: 'test.job',
          attempt: 2,
          headers: id.headers,
          error,
          delayMs: 30_000,
          tier: '30s',
          nextAttempt: 3,
        },
      ],
    ]);
    publisher.fail = new Error('nacked');
    await applier.apply(channel, delivery({}), id, invalidPayload('bad'));
    expect(emitted).toHaveLength(1);
    publisher.fail = undefined;
    await applier.apply(channel, delivery({}), id, invalidPayload('bad'));
    expect(emitted[1]?.[0]).toBe('dead-lettered');
    expect(emitted[1]?.[1]).toMatchObject({ jobId: 'job-1', reason: 'invalid_payload', error: { message: 'bad' } });
  });

  it('emits nothing for a settle that was dropped (the broker redelivers the job)', () => {
    const { channel, applier, emitted } = setup({ live: false });
    void applier.apply(channel, delivery({}), id, SUCCESS);
    expect(emitted).toEqual([]);
  });
});
