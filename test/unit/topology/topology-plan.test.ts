import { describe, expect, it } from 'vitest';
import { planTopology } from 'warren';
import { toTopologyError } from '../../../src/topology/declare-topology.js';

describe('planTopology', () => {
  it('derives exchanges, a job and a dead-letter queue per job type, and their bindings', () => {
    const plan = planTopology({ namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 }, ['email.send']);
    expect(plan.exchanges).toEqual([
      { name: 'acme.jobs', type: 'topic' },
      { name: 'acme.dead', type: 'direct' },
    ]);
    expect(plan.queues.map((q) => q.name)).toEqual(['acme.job.email.send', 'acme.dead.email.send']);
    expect(plan.queues[0]?.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 5,
      'x-dead-letter-exchange': 'acme.dead',
      'x-dead-letter-routing-key': 'email.send',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(plan.bindings).toEqual([
      { queue: 'acme.job.email.send', exchange: 'acme.jobs', routingKey: 'email.send' },
      { queue: 'acme.dead.email.send', exchange: 'acme.dead', routingKey: 'email.send' },
    ]);
  });

  it('leaves quorum-only arguments off classic queues', () => {
    const plan = planTopology({ namespace: 'acme', queueType: 'classic', deliveryLimit: 5 }, ['a']);
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
