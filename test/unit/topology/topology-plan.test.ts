import { describe, expect, it } from 'vitest';
import { planTopology } from 'warren';
import { toTopologyError } from '../../../src/topology/declare-topology.js';

describe('planTopology', () => {
  it('derives exchanges, a job and a dead-letter queue per job type, and their bindings', () => {
    const plan = planTopology({ namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 }, [
      { jobType: 'email.send', tiersMs: [1_000, 30_000] },
      { jobType: 'sms.send', tiersMs: [30_000, 3_600_000] },
    ]);
    expect(plan.exchanges).toEqual([
      { name: 'acme.jobs', type: 'topic' },
      { name: 'acme.dead', type: 'direct' },
      { name: 'acme.retry', type: 'topic' },
      { name: 'acme.requeue', type: 'topic' },
    ]);
    expect(plan.queues.map((q) => q.name)).toEqual([
      'acme.job.email.send',
      'acme.dead.email.send',
      'acme.retry.1s',
      'acme.retry.30s',
      'acme.job.sms.send',
      'acme.dead.sms.send',
      'acme.retry.1h',
    ]);
    expect(plan.queues[0]?.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 5,
      'x-dead-letter-exchange': 'acme.dead',
      'x-dead-letter-routing-key': 'email.send',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(plan.bindings.filter((b) => b.queue.includes('email.send'))).toEqual([
      { queue: 'acme.job.email.send', exchange: 'acme.jobs', routingKey: 'email.send' },
      { queue: 'acme.job.email.send', exchange: 'acme.requeue', routingKey: '*.email.send' },
      { queue: 'acme.dead.email.send', exchange: 'acme.dead', routingKey: 'email.send' },
    ]);
    // One queue per tier, shared by every job type, with a queue-level TTL back through the requeue exchange.
    expect(plan.queues.find((q) => q.name === 'acme.retry.30s')?.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-message-ttl': 30_000,
      'x-dead-letter-exchange': 'acme.requeue',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(plan.bindings.filter((b) => b.exchange === 'acme.retry')).toEqual([
      { queue: 'acme.retry.1s', exchange: 'acme.retry', routingKey: '1s.#' },
      { queue: 'acme.retry.30s', exchange: 'acme.retry', routingKey: '30s.#' },
      { queue: 'acme.retry.1h', exchange: 'acme.retry', routingKey: '1h.#' },
    ]);
  });

  it('leaves quorum-only arguments off classic queues', () => {
    const plan = planTopology({ namespace: 'acme', queueType: 'classic', deliveryLimit: 5 }, [{ jobType: 'a', tiersMs: [] }]);
    expect(plan.queues[0]?.arguments).toEqual({
      'x-queue-type': 'classic',
      'x-dead-letter-exchange': 'acme.dead',
      'x-dead-letter-routing-key': 'a',
    });
  });
});

describe('toTopologyError', () => {
  it('names the queue and the argument from the broker text', () => {
    const broker = new Error(
      `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'acme.job.a' in vhost '/': received the value 'quorum' of type 'longstr' but current is none"`,
    );
    const error = toTopologyError(broker) as Error;
    expect(error.name).toBe('TopologyConflictError');
    expect(error.message).toContain('queue "acme.job.a"');
    expect(error.message).toContain('x-queue-type');
    expect(error.message).toContain('warren declares "quorum", the existing queue has none');
  });

  it('reads the short form RabbitMQ uses for string arguments', () => {
    const broker = new Error(
      `406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received 'quorum' but current is 'classic'"`,
    );
    expect((toTopologyError(broker) as Error).message).toContain('warren declares "quorum", the existing queue has "classic"');
  });

  it('passes other errors through', () => {
    const other = new Error('boom');
    expect(toTopologyError(other)).toBe(other);
  });
});
