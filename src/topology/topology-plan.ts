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
  /**
   * The arguments an earlier warren declared this queue with, when they differ from today's only by what is
   * optional for the queue to work. A queue that exists with these is used as it is (declaring it again with
   * `arguments` would fail with PRECONDITION_FAILED), and `declareTopology` reports it so that the caller can say how
   * to bring it up to date.
   */
  readonly legacyArguments?: Readonly<Record<string, string | number>>;
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

/**
 * The `x-delivery-limit` of a quorum dead-letter queue: `Number.MAX_SAFE_INTEGER`, so that no number of reads can
 * take a dead letter out of it.
 *
 * `warren dlq peek` and `replay --dry-run` (and the management UI's "Get messages") read a dead letter and hand it
 * back, and RabbitMQ counts each return toward the queue's delivery limit: on 4.0-4.2 every return counts and a
 * quorum queue that sets no limit has one of 20, so the 21st read dropped the dead letter (measured on 4.0.5). The
 * value must be right on every version at once, since a broker upgraded from 3.x to 4.x keeps each queue's arguments
 * and a declaration with other ones fails. Measured with 30 reads of one message: no argument keeps it on 3.10 and
 * drops it on 4.0; `-1` (unlimited on 4.x) drops it on the first read on 3.10; `0` drops it on both; any large
 * positive value keeps it on both. The largest integer a JS number carries exactly is that value: a dead letter read
 * a thousand times a second would last for hundreds of thousands of years.
 *
 * It also keeps the order: RabbitMQ 3.x puts a message given back to a quorum queue without a delivery limit at the
 * end of the queue, so peeking at the first 2 of 5 rotated them; with a limit, 3.10 and 4.0 put it back at the
 * head. RabbitMQ takes the lower of this argument and a policy's `delivery-limit`, so a policy with a lower one that
 * matches the dead-letter queues brings the loss back.
 */
export const DEAD_LETTER_DELIVERY_LIMIT = Number.MAX_SAFE_INTEGER;

/** An operator policy that gives the dead-letter queues of a namespace the delivery limit warren declares them with. */
export interface DeadLetterLimitPolicy {
  readonly name: string;
  /** Matches every `<ns>.dead.<jobType>` queue (and no exchange: it applies to queues). */
  readonly pattern: string;
  readonly definition: { readonly 'delivery-limit': number };
  /** The `rabbitmqctl` command that sets it on the default vhost. */
  readonly command: string;
}

/**
 * The policy that brings dead-letter queues declared by an earlier warren (without `x-delivery-limit`) up to date
 * without touching their messages: RabbitMQ applies a policy's `delivery-limit` to a quorum queue that has none of
 * its own (measured on 3.10 and 4.0.5: 30 reads of 5 dead letters keep all 5, in order). An operator policy, so it
 * combines with a policy of the user's own instead of replacing it.
 */
export function deadLetterLimitPolicy(namespace: string): DeadLetterLimitPolicy {
  const name = `${namespace}.dead-letter-limit`;
  const pattern = `^${deadQueue(namespace, '').replace(/[.]/g, '\\.')}`;
  const definition = { 'delivery-limit': DEAD_LETTER_DELIVERY_LIMIT } as const;
  // Namespaces are letters, digits, '-', '_' and dots: nothing the single quotes need to escape.
  const command = `rabbitmqctl set_operator_policy ${name} '${pattern}' '${JSON.stringify(definition)}' --apply-to queues`;
  return { name, pattern, definition, command };
}

/**
 * What a worker (and `warren topology --apply`, `warren dlq peek`) says about a dead-letter queue that an earlier
 * warren declared without `x-delivery-limit`: what it risks, and the exact fix.
 */
export function legacyDeadLetterQueueWarning(queue: string, namespace: string): string {
  return (
    `${queue} was declared by an earlier warren without x-delivery-limit and is used as it is. On RabbitMQ 4.0-4.2 ` +
    `it drops a dead letter read more than 20 times (warren dlq peek, replay --dry-run, the management UI); on 3.x ` +
    `reads change the order of its dead letters. To keep every dead letter, give the dead-letter queues of ` +
    `"${namespace}" the limit with an operator policy (add -p <vhost> outside the default vhost): ` +
    `${deadLetterLimitPolicy(namespace).command}. warren cannot see policies, so this warning stays until the queue ` +
    `is declared again: empty it (warren dlq replay or purge), delete it and restart a worker, which declares it ` +
    `with the limit`
  );
}

/** The settings a topology depends on. */
export type TopologySettings = Pick<WarrenConfig, 'namespace' | 'queueType' | 'deliveryLimit'> &
  Partial<Pick<WarrenConfig, 'quorumInitialGroupSize' | 'queueLeaderLocator'>>;

/**
 * A quorum queue's replication arguments, where the settings give them. RabbitMQ compares both when a queue is
 * declared again (measured on 3.10 and 4.0: a queue created without one conflicts with a declaration with it), so
 * they are only sent when set: a default would make every existing queue conflict at the next start.
 */
function replication(settings: TopologySettings): Record<string, string | number> {
  if (settings.queueType !== 'quorum') return {};
  const { quorumInitialGroupSize: size, queueLeaderLocator: locator } = settings;
  return {
    ...(size === undefined || size === 0 ? {} : { 'x-quorum-initial-group-size': size }),
    ...(locator === undefined || locator === '' ? {} : { 'x-queue-leader-locator': locator }),
  };
}

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
 *
 * No `x-delivery-limit`: nothing consumes a tier, so its messages are never handed back and never counted. Only a
 * person reading one (the management UI's "Get messages", requeue) counts; past 20 such reads RabbitMQ 4.0-4.2
 * dead-letters it on to the requeue exchange early (measured on 4.0.5), which is a retry that comes before its
 * delay, never a loss. Adding the argument would make every existing tier conflict at the next start.
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
        ...replication(settings),
      },
    },
    binding: { queue: name, exchange: retryExchange(settings.namespace), routingKey: `${tierName(delayMs)}.#` },
  };
}

/**
 * How long RabbitMQ may leave a delivery of a job queue unacknowledged before it closes the consumer's channel (the
 * queue argument `x-consumer-timeout`). A delivery can wait for the jobs in flight before it runs alone (a suspect),
 * then take its schema's and its handler's time, each bounded by the job's timeout, then its copy's confirm: three
 * job timeouts and a minute to spare. Whole milliseconds, at most RabbitMQ's largest (2^31 − 1).
 *
 * Measured: RabbitMQ 4.0 applies the argument to a queue declared with it; 3.10 ignores it (only the global
 * `consumer_timeout` exists there); neither honours the argument on `basic.consume`, and neither compares it when a
 * queue is declared again, so a queue declared without it (or with an older value) keeps what it had: a
 * `consumer-timeout` policy changes that (README, "RabbitMQ versions").
 */
export function consumerTimeoutMs(jobTimeoutMs: number): number {
  return Math.min(2 ** 31 - 1, Math.ceil(3 * jobTimeoutMs + 60_000));
}

/**
 * The queue and bindings of one job type; `timeoutMs`, the job's timeout, sets the queue's consumer timeout.
 *
 * A job queue dead-letters only what the broker gives up on (a message past the delivery limit, whose worker
 * crashed every time); warren's own dead-lettering publishes a confirmed copy with the error context instead.
 */
export function jobTopology(
  settings: TopologySettings,
  jobType: string,
  tiersMs: readonly number[] = [],
  timeoutMs?: number,
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
      ...replication(settings),
      ...(timeoutMs === undefined ? {} : { 'x-consumer-timeout': consumerTimeoutMs(timeoutMs) }),
    },
  };
  // A dead-letter queue is read by the tools any number of times (DEAD_LETTER_DELIVERY_LIMIT); one declared by an
  // earlier warren, without the limit, is used as it is and reported. Classic queues have no delivery limit.
  const dead: QueueSpec =
    queueType === 'quorum'
      ? {
          name: deadQueue(namespace, jobType),
          jobType,
          role: 'dead',
          arguments: {
            'x-queue-type': queueType,
            'x-delivery-limit': DEAD_LETTER_DELIVERY_LIMIT,
            ...replication(settings),
          },
          legacyArguments: { 'x-queue-type': queueType, ...replication(settings) },
        }
      : { name: deadQueue(namespace, jobType), jobType, role: 'dead', arguments: { 'x-queue-type': queueType } };
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
  /** The job's timeout (its own or the worker's default); sets the queue's consumer timeout. */
  readonly timeoutMs?: number;
}

/** The whole topology for a set of jobs, tiers shared: pure, so `warren topology` can print it without a broker. */
export function planTopology(settings: TopologySettings, jobs: readonly PlannedJob[]): TopologyPlan {
  const parts = jobs.map((job) => jobTopology(settings, job.jobType, job.tiersMs, job.timeoutMs));
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
 * Like the retry tiers (see `tierTopology`), the levels are never consumed and need no `x-delivery-limit`.
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
        ...replication(settings),
      },
    });
    bindings.push({ queue: name, exchange: name, routingKey: `${before}1.#` });
    exchangeBindings.push({ destination: next(level), source: name, routingKey: `${before}0.#` });
  }
  return { exchanges, queues, bindings, exchangeBindings };
}
