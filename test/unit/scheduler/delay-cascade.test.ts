import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, MAX_DELAY_MS, planTopology } from 'warren';
import { DELAY_LEVELS, delayEntryLevel, delayLevel, delayRoutingKey, jobQueue } from '../../../src/topology/names.js';
import { delayTopology, type TopologyPlan } from '../../../src/topology/topology-plan.js';

/** AMQP topic matching: `*` is exactly one word, `#` zero or more. */
function topicMatches(pattern: string, key: string): boolean {
  const match = (p: readonly string[], k: readonly string[]): boolean => {
    if (p.length === 0) return k.length === 0;
    const [head, ...rest] = p;
    if (head === '#') return match(rest, k) || (k.length > 0 && match(p, k.slice(1)));
    return k.length > 0 && (head === '*' || head === k[0]) && match(rest, k.slice(1));
  };
  return match(pattern.split('.'), key.split('.'));
}

/**
 * Follows a message through the plan as RabbitMQ would: from an exchange along exchange-to-exchange bindings to
 * the queues bound with a matching key; a queue with a TTL holds it that long, then dead-letters it (same routing
 * key) to its dead-letter exchange. Returns where it ends, how long it waited and how many exchanges it passed.
 */
function route(
  plan: TopologyPlan,
  exchange: string,
  key: string,
): { queues: string[]; waitedMs: number; exchanges: number } {
  const exchangeBindings = plan.exchangeBindings ?? [];
  let waitedMs = 0;
  let exchanges = 0;
  let at = [exchange];
  for (let hop = 0; hop < 100; hop += 1) {
    const queues = new Set<string>();
    const seen = new Set<string>();
    while (at.length > 0) {
      const current = at.pop() as string;
      if (seen.has(current)) continue;
      seen.add(current);
      exchanges += 1;
      for (const b of plan.bindings) if (b.exchange === current && topicMatches(b.routingKey, key)) queues.add(b.queue);
      for (const b of exchangeBindings)
        if (b.source === current && topicMatches(b.routingKey, key)) at.push(b.destination);
    }
    const found = [...queues];
    const delayQueues = found
      .map((name) => plan.queues.find((q) => q.name === name))
      .filter((q) => q?.arguments['x-message-ttl'] !== undefined);
    if (delayQueues.length === 0) return { queues: found, waitedMs, exchanges };
    // A delay level: one queue at a time, never copied to two.
    expect(found).toHaveLength(1);
    const queue = delayQueues[0] as (typeof plan.queues)[number];
    waitedMs += Number(queue.arguments['x-message-ttl']);
    at = [String(queue.arguments['x-dead-letter-exchange'])];
  }
  throw new Error(`routing loop for ${key}`);
}

describe('the binary delay cascade, simulated over the topology plan', () => {
  const settings = { ...DEFAULT_CONFIG, namespace: 'acme' };
  const delay = delayTopology(settings);
  const jobs = planTopology(settings, [{ jobType: 'email.send', tiersMs: [] }]);
  const plan: TopologyPlan = {
    exchanges: [...delay.exchanges, ...jobs.exchanges],
    queues: [...delay.queues, ...jobs.queues],
    bindings: [...delay.bindings, ...jobs.bindings],
    exchangeBindings: [...(delay.exchangeBindings ?? []), ...(jobs.exchangeBindings ?? [])],
  };
  const entry = delayLevel('acme', DELAY_LEVELS - 1);

  const samples = [
    0,
    1,
    2,
    3,
    7,
    8,
    15,
    16,
    17,
    20,
    59,
    60,
    61,
    90,
    3_599,
    3_600,
    86_400,
    2 ** 20 + 12_345,
    2 ** 28 - 1,
  ];
  it.each(samples)('a delay of %i s waits exactly that long and ends in the job queue only', (seconds) => {
    const { queues, waitedMs } = route(plan, entry, delayRoutingKey(seconds, 'email.send'));
    expect(waitedMs).toBe(seconds * 1000);
    expect(queues).toEqual([jobQueue('acme', 'email.send')]);
  });

  it('visits one level per set bit: at most 28 hops, and the longest delay is 2^28 - 1 s', () => {
    expect(MAX_DELAY_MS).toBe((2 ** 28 - 1) * 1000);
    expect(MAX_DELAY_MS / 1000 / 86_400 / 365.25).toBeGreaterThan(8.5);
    for (let i = 0; i < 40; i += 1) {
      const seconds = Math.floor(Math.random() * 2 ** 28);
      expect(route(plan, entry, delayRoutingKey(seconds, 'email.send')).waitedMs).toBe(seconds * 1000);
    }
  });

  it('enters at the level of its highest 1 bit: the same wait and queue, passing no level above it', () => {
    expect([0, 1, 2, 3, 4, 13, 59, 60, 64, 2 ** 28 - 1].map(delayEntryLevel)).toEqual([0, 0, 1, 1, 2, 3, 5, 5, 6, 27]);
    for (const seconds of [...samples, ...Array.from({ length: 40 }, () => Math.floor(Math.random() * 2 ** 28))]) {
      const key = delayRoutingKey(seconds, 'email.send');
      const level = delayEntryLevel(seconds);
      const fromTop = route(plan, entry, key);
      const fromEntry = route(plan, delayLevel('acme', level), key);
      expect(fromEntry.waitedMs).toBe(seconds * 1000);
      expect(fromEntry.queues).toEqual(fromTop.queues);
      // Levels `level` … 0 and the delayed exchange, against all 28 from the top.
      expect(fromEntry.exchanges).toBe(level + 2);
      expect(fromTop.exchanges).toBe(DELAY_LEVELS + 1);
    }
  });

  it('a delayed job of another type never reaches this queue', () => {
    expect(route(plan, entry, delayRoutingKey(5, 'email.sendx')).queues).toEqual([]);
    expect(route(plan, entry, delayRoutingKey(5, 'other.email.send')).queues).toEqual([]);
  });

  it('every level queue holds 2^k s (a queue-level TTL) and dead-letters at least once (quorum)', () => {
    for (let level = 0; level < DELAY_LEVELS; level += 1) {
      const queue = plan.queues.find((q) => q.name === delayLevel('acme', level));
      expect(queue?.arguments).toMatchObject({
        'x-message-ttl': 2 ** level * 1000,
        'x-queue-type': 'quorum',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      });
      expect(queue?.arguments['x-expires']).toBeUndefined();
    }
  });
});
