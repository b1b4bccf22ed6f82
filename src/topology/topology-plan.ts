import type { WarrenConfig } from '../config/config-options.js';
import {
  DELAY_LEVELS,
  deadExchange,
  delayLevel,
  delayedBindingKey,
  delayedExchange,
  deadQueue,
  jobQueue,
  jobsExchange,
  requeueBindingKey,
  requeueExchange,
  retryExchange,
  retryQueue,
  tierName,
} from './names.js';

/** An exchange warren declares (always durable). */
export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'topic' | 'direct';
}

/** An exchange-to-exchange binding. */
export interface ExchangeBindingSpec {
  readonly destination: string;
  readonly source: string;
  readonly routingKey: string;
}

/** A queue warren declares (always durable), with its `x-` arguments. */
export interface QueueSpec {
  readonly name: string;
  /** The job type it serves; empty for retry tiers, which all job types share. */
  readonly jobType: string;
  readonly role: 'job' | 'dead' | 'retry' | 'delay';
  readonly arguments: Readonly<Record<string, string | number>>;
}

/** A binding of a queue to an exchange. */
export interface BindingSpec {
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
}

/** Everything warren declares, in the order it is declared: exchanges, then queues, then bindings. */
export interface TopologyPlan {
  readonly exchanges: readonly ExchangeSpec[];
  readonly queues: readonly QueueSpec[];
  readonly bindings: readonly BindingSpec[];
  /** Exchange-to-exchange bindings (the delay cascade), declared after the queue bindings. */
  readonly exchangeBindings?: readonly ExchangeBindingSpec[];
}

/** The settings a topology depends on. */
export type TopologySettings = Pick<WarrenConfig, 'namespace' | 'queueType' | 'deliveryLimit'>;

/** The exchanges every warren process declares, whatever its handlers. */
export function baseExchanges(namespace: string): ExchangeSpec[] {
  return [
    { name: jobsExchange(namespace), type: 'topic' },
    { name: deadExchange(namespace), type: 'direct' },
    { name: retryExchange(namespace), type: 'topic' },
    { name: requeueExchange(namespace), type: 'topic' },
    { name: delayedExchange(namespace), type: 'topic' },
  ];
}

/** Arguments that make a quorum queue dead-letter at least once (classic queues have no such mode). */
function atLeastOnce(settings: TopologySettings): Record<string, string> {
  // At-least-once dead-lettering needs reject-publish overflow; without it quorum queues dead-letter at most once.
  return settings.queueType === 'quorum'
    ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
    : {};
}

/**
 * One retry tier: a queue with a queue-level TTL (never per-message TTLs, which expire only at the head and
 * would hold a 1 s retry behind a 1 h one) that dead-letters to the requeue exchange, keeping the routing key
 * `<tier>.<jobType>` that leads back to the job's own queue.
 */
export function tierTopology(settings: TopologySettings, delayMs: number): { queue: QueueSpec; binding: BindingSpec } {
  const name = retryQueue(settings.namespace, delayMs);
  return {
    queue: {
      name,
      jobType: '',
      role: 'retry',
      arguments: {
        'x-queue-type': settings.queueType,
        'x-message-ttl': delayMs,
        'x-dead-letter-exchange': requeueExchange(settings.namespace),
        ...atLeastOnce(settings),
      },
    },
    binding: { queue: name, exchange: retryExchange(settings.namespace), routingKey: `${tierName(delayMs)}.#` },
  };
}

/**
 * The queue and bindings of one job type.
 *
 * A job queue dead-letters only what the broker gives up on (a message past the delivery limit, whose worker
 * crashed every time); warren's own dead-lettering publishes a confirmed copy with the error context instead.
 */
export function jobTopology(
  settings: TopologySettings,
  jobType: string,
  tiersMs: readonly number[] = [],
): TopologyPlan {
  const { namespace, queueType } = settings;
  const deadLettering: Record<string, string | number> =
    queueType === 'quorum' ? { 'x-delivery-limit': settings.deliveryLimit, ...atLeastOnce(settings) } : {};
  const queue: QueueSpec = {
    name: jobQueue(namespace, jobType),
    jobType,
    role: 'job',
    arguments: {
      'x-queue-type': queueType,
      'x-dead-letter-exchange': deadExchange(namespace),
      'x-dead-letter-routing-key': jobType,
      ...deadLettering,
    },
  };
  const dead: QueueSpec = {
    name: deadQueue(namespace, jobType),
    jobType,
    role: 'dead',
    arguments: { 'x-queue-type': queueType },
  };
  const tiers = [...new Set(tiersMs)].map((delayMs) => tierTopology(settings, delayMs));
  return {
    exchanges: baseExchanges(namespace),
    queues: [queue, dead, ...tiers.map((tier) => tier.queue)],
    bindings: [
      { queue: queue.name, exchange: jobsExchange(namespace), routingKey: jobType },
      { queue: queue.name, exchange: requeueExchange(namespace), routingKey: requeueBindingKey(jobType) },
      { queue: queue.name, exchange: delayedExchange(namespace), routingKey: delayedBindingKey(jobType) },
      { queue: dead.name, exchange: deadExchange(namespace), routingKey: jobType },
      ...tiers.map((tier) => tier.binding),
    ],
  };
}

/** A job type and the delays of its retry tiers. */
export interface PlannedJob {
  readonly jobType: string;
  readonly tiersMs: readonly number[];
}

/** The whole topology for a set of jobs, tiers shared: pure, so `warren topology` can print it without a broker. */
export function planTopology(settings: TopologySettings, jobs: readonly PlannedJob[]): TopologyPlan {
  const parts = jobs.map((job) => jobTopology(settings, job.jobType, job.tiersMs));
  const queues = new Map(parts.flatMap((part) => part.queues).map((queue) => [queue.name, queue]));
  const bindings = new Map(
    parts.flatMap((part) => part.bindings).map((b) => [`${b.exchange} ${b.routingKey} ${b.queue}`, b]),
  );
  return {
    exchanges: baseExchanges(settings.namespace),
    queues: [...queues.values()],
    bindings: [...bindings.values()],
  };
}

/**
 * The delayed-delivery cascade, shared by every job type of a namespace (the technique of NServiceBus's and
 * Celery's native delayed delivery). Level k is a topic exchange and a queue of the same name; the queue holds
 * messages 2^k s (queue-level TTL, so no head-of-line blocking) and dead-letters to level k − 1; the exchange sends a
 * message whose bit k is 1 to its queue and one whose bit k is 0 straight on to level k − 1. Level 0 leads to the
 * delayed exchange, where each job queue is bound with its own key. Declared on the first delayed publish.
 */
export function delayTopology(settings: TopologySettings): TopologyPlan {
  const { namespace } = settings;
  const next = (level: number): string => (level === 0 ? delayedExchange(namespace) : delayLevel(namespace, level - 1));
  const exchanges: ExchangeSpec[] = [{ name: delayedExchange(namespace), type: 'topic' }];
  const queues: QueueSpec[] = [];
  const bindings: BindingSpec[] = [];
  const exchangeBindings: ExchangeBindingSpec[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level -= 1) {
    const name = delayLevel(namespace, level);
    const before = '*.'.repeat(DELAY_LEVELS - 1 - level);
    exchanges.push({ name, type: 'topic' });
    queues.push({
      name,
      jobType: '',
      role: 'delay',
      arguments: {
        'x-queue-type': settings.queueType,
        'x-message-ttl': 2 ** level * 1000,
        'x-dead-letter-exchange': next(level),
        ...atLeastOnce(settings),
      },
    });
    bindings.push({ queue: name, exchange: name, routingKey: `${before}1.#` });
    exchangeBindings.push({ destination: next(level), source: name, routingKey: `${before}0.#` });
  }
  return { exchanges, queues, bindings, exchangeBindings };
}
