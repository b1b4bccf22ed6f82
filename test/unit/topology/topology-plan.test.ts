import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planTopology } from 'warren';
import {
  consumerTimeoutMs,
  DEAD_LETTER_DELIVERY_LIMIT,
  deadLetterLimitPolicy,
  delayTopology,
  jobTopology,
  legacyDeadLetterQueueWarning,
} from '../../../src/topology/topology-plan.js';
import { delayRoutingKey } from '../../../src/topology/names.js';
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
      { name: 'acme.delayed', type: 'topic' },
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
      { queue: 'acme.job.email.send', exchange: 'acme.delayed', routingKey: `${'*.'.repeat(28)}email.send` },
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
    const plan = planTopology({ namespace: 'acme', queueType: 'classic', deliveryLimit: 5 }, [
      { jobType: 'a', tiersMs: [] },
    ]);
    expect(plan.queues[0]?.arguments).toEqual({
      'x-queue-type': 'classic',
      'x-dead-letter-exchange': 'acme.dead',
      'x-dead-letter-routing-key': 'a',
    });
    // A classic queue puts a message given back where it was and has no delivery limit to reach.
    expect(plan.queues[1]).toEqual({
      name: 'acme.dead.a',
      jobType: 'a',
      role: 'dead',
      arguments: { 'x-queue-type': 'classic' },
    });
  });
});

describe('the arguments of each role', () => {
  const plan = planTopology({ namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 }, [
    { jobType: 'email.send', tiersMs: [1_000, 30_000] },
  ]);
  const byRole = (role: string) => plan.queues.filter((q) => q.role === role);

  it('a dead-letter queue carries a delivery limit no number of reads reaches, on 3.x and 4.x alike', () => {
    expect(byRole('dead')).toEqual([
      {
        name: 'acme.dead.email.send',
        jobType: 'email.send',
        role: 'dead',
        arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': DEAD_LETTER_DELIVERY_LIMIT },
        // What warren declared before: such a queue is used as it is, and reported.
        legacyArguments: { 'x-queue-type': 'quorum' },
      },
    ]);
    // Positive (-1, unlimited on 4.x, drops a message at its first return on 3.10; 0 on both), and exact in a JS
    // number, so amqplib sends the very value a re-declaration is compared with.
    expect(Number.isSafeInteger(DEAD_LETTER_DELIVERY_LIMIT)).toBe(true);
    expect(DEAD_LETTER_DELIVERY_LIMIT).toBeGreaterThan(2 ** 50);
  });

  it('a job queue keeps the deliveryLimit setting; tiers and delay levels, which nothing consumes, carry none', () => {
    expect(byRole('job').map((q) => q.arguments['x-delivery-limit'])).toEqual([5]);
    const unconsumed = [
      ...byRole('retry'),
      ...delayTopology({ namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 }).queues,
    ];
    expect(unconsumed).toHaveLength(2 + 28);
    for (const queue of unconsumed) {
      expect(queue.arguments, queue.name).not.toHaveProperty('x-delivery-limit');
      expect(queue.legacyArguments, queue.name).toBeUndefined();
    }
    expect(byRole('job')[0]?.legacyArguments).toBeUndefined();
  });

  it('the policy for dead-letter queues of an earlier warren matches exactly those of its namespace', () => {
    const policy = deadLetterLimitPolicy('acme.eu-1');
    expect(policy).toEqual({
      name: 'acme.eu-1.dead-letter-limit',
      pattern: '^acme\\.eu-1\\.dead\\.',
      definition: { 'delivery-limit': DEAD_LETTER_DELIVERY_LIMIT },
      command:
        "rabbitmqctl set_operator_policy acme.eu-1.dead-letter-limit '^acme\\.eu-1\\.dead\\.' " +
        `'{"delivery-limit":${DEAD_LETTER_DELIVERY_LIMIT}}' --apply-to queues`,
    });
    const pattern = new RegExp(policy.pattern);
    expect(pattern.test('acme.eu-1.dead.email.send')).toBe(true);
    for (const other of [
      'acme.eu-1.job.email.send',
      'acme.eu-1.retry.1s',
      'acme.eu-1.dead',
      'acmeXeu-1.dead.a',
      'x.acme.eu-1.dead.a',
    ]) {
      expect(pattern.test(other), other).toBe(false);
    }
  });

  it('the README gives the same command for the default namespace', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\n  ${deadLetterLimitPolicy('warren').command}\n`);
    expect(readme).toContain(`x-delivery-limit: ${DEAD_LETTER_DELIVERY_LIMIT}`);
  });

  it('the warning names the queue, what it risks and the exact policy', () => {
    const warning = legacyDeadLetterQueueWarning('acme.dead.email.send', 'acme');
    expect(warning).toMatch(/^acme\.dead\.email\.send was declared by an earlier warren without x-delivery-limit/);
    expect(warning).toContain('more than 20 times');
    expect(warning).toContain(deadLetterLimitPolicy('acme').command);
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
    expect((toTopologyError(broker) as Error).message).toContain(
      'warren declares "quorum", the existing queue has "classic"',
    );
  });

  it('passes other errors through', () => {
    const other = new Error('boom');
    expect(toTopologyError(other)).toBe(other);
  });
});

describe('the delay cascade', () => {
  it('encodes the delay in 28 binary words, most significant first, then the job type', () => {
    expect(delayRoutingKey(0, 'a.b')).toBe(`${'0.'.repeat(28)}a.b`);
    expect(delayRoutingKey(5, 'a')).toBe(`${'0.'.repeat(25)}1.0.1.a`);
    expect(delayRoutingKey(2 ** 28 - 1, 'a')).toBe(`${'1.'.repeat(28)}a`);
  });

  it('level k holds 2^k s and sends bit 1 to its queue, bit 0 on to level k - 1, level 0 to the delayed exchange', () => {
    const plan = delayTopology({ namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 });
    expect(plan.queues).toHaveLength(28);
    const level4 = plan.queues.find((q) => q.name === 'acme.delay.04');
    expect(level4?.arguments).toMatchObject({ 'x-message-ttl': 16_000, 'x-dead-letter-exchange': 'acme.delay.03' });
    expect(plan.queues.find((q) => q.name === 'acme.delay.00')?.arguments['x-dead-letter-exchange']).toBe(
      'acme.delayed',
    );
    const before = '*.'.repeat(23);
    expect(plan.bindings).toContainEqual({
      queue: 'acme.delay.04',
      exchange: 'acme.delay.04',
      routingKey: `${before}1.#`,
    });
    expect(plan.exchangeBindings).toContainEqual({
      destination: 'acme.delay.03',
      source: 'acme.delay.04',
      routingKey: `${before}0.#`,
    });
    expect(plan.exchangeBindings).toContainEqual({
      destination: 'acme.delayed',
      source: 'acme.delay.00',
      routingKey: `${'*.'.repeat(27)}0.#`,
    });
  });
});

describe('the consumer timeout of a job queue', () => {
  it('leaves room for three job timeouts and a minute, within RabbitMQ bounds, when the job timeout is known', () => {
    expect(consumerTimeoutMs(30_000)).toBe(150_000);
    expect(consumerTimeoutMs(0.5)).toBe(60_002);
    expect(consumerTimeoutMs(10 * 24 * 3600 * 1000)).toBe(2 ** 31 - 1);
    const settings = { namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 } as const;
    const [withTimeout] = jobTopology(settings, 'email.send', [], 30_000).queues;
    expect(withTimeout?.arguments['x-consumer-timeout']).toBe(150_000);
    const [without] = jobTopology(settings, 'email.send').queues;
    expect(without?.arguments).not.toHaveProperty('x-consumer-timeout');
  });
});

describe('replication settings of quorum queues', () => {
  const base = { namespace: 'acme', queueType: 'quorum', deliveryLimit: 5 } as const;
  const argsOf = (plan: { queues: ReadonlyArray<{ role: string; arguments: Record<string, unknown> }> }) =>
    plan.queues.map((q) => [q.role, q.arguments['x-quorum-initial-group-size'], q.arguments['x-queue-leader-locator']]);

  it('are sent on every quorum queue (job, dead-letter, tier, delay) when set', () => {
    const settings = { ...base, quorumInitialGroupSize: 3, queueLeaderLocator: 'balanced' } as const;
    const plan = planTopology(settings, [{ jobType: 'mail.send', tiersMs: [1_000] }]);
    expect(argsOf(plan)).toEqual([
      ['job', 3, 'balanced'],
      ['dead', 3, 'balanced'],
      ['retry', 3, 'balanced'],
    ]);
    expect(new Set(argsOf(delayTopology(settings)).map((row) => `${String(row[1])} ${String(row[2])}`))).toEqual(
      new Set(['3 balanced']),
    );
  });

  it('are left out by default (0 and ""), and for classic queues: RabbitMQ compares them on every declaration', () => {
    const unset = planTopology({ ...base, quorumInitialGroupSize: 0, queueLeaderLocator: '' }, [
      { jobType: 'mail.send', tiersMs: [1_000] },
    ]);
    for (const queue of unset.queues) {
      expect(queue.arguments).not.toHaveProperty('x-quorum-initial-group-size');
      expect(queue.arguments).not.toHaveProperty('x-queue-leader-locator');
    }
    const classic = planTopology(
      { ...base, queueType: 'classic', quorumInitialGroupSize: 3, queueLeaderLocator: 'balanced' },
      [{ jobType: 'mail.send', tiersMs: [1_000] }],
    );
    for (const queue of classic.queues) expect(queue.arguments).not.toHaveProperty('x-quorum-initial-group-size');
  });
});
