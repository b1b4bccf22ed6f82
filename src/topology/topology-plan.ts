import type { WarrenConfig } from '../config/config-options.js';
import { deadExchange, deadQueue, jobQueue, jobsExchange } from './names.js';

/** An exchange warren declares (always durable). */
export interface ExchangeSpec {
  readonly name: string;
  readonly type: 'topic' | 'direct';
}

/** A queue warren declares (always durable), with its `x-` arguments. */
export interface QueueSpec {
  readonly name: string;
  readonly jobType: string;
  readonly role: 'job' | 'dead';
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
}

/** The settings a topology depends on. */
export type TopologySettings = Pick<WarrenConfig, 'namespace' | 'queueType' | 'deliveryLimit'>;

/** The exchanges every warren process declares, whatever its handlers. */
export function baseExchanges(namespace: string): ExchangeSpec[] {
  return [
    { name: jobsExchange(namespace), type: 'topic' },
    { name: deadExchange(namespace), type: 'direct' },
  ];
}

/**
 * The queue and bindings of one job type.
 *
 * A job queue dead-letters only what the broker gives up on (a message past the delivery limit, whose worker
 * crashed every time); warren's own dead-lettering publishes a confirmed copy with the error context instead.
 */
export function jobTopology(settings: TopologySettings, jobType: string): TopologyPlan {
  const { namespace, queueType } = settings;
  const deadLettering: Record<string, string | number> =
    queueType === 'quorum'
      ? {
          'x-delivery-limit': settings.deliveryLimit,
          // At-least-once dead-lettering needs reject-publish overflow; without it quorum queues drop on failure.
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        }
      : {};
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
  return {
    exchanges: baseExchanges(namespace),
    queues: [queue, dead],
    bindings: [
      { queue: queue.name, exchange: jobsExchange(namespace), routingKey: jobType },
      { queue: dead.name, exchange: deadExchange(namespace), routingKey: jobType },
    ],
  };
}

/** The whole topology for a set of job types: pure, so `warren topology` can print it without a broker. */
export function planTopology(settings: TopologySettings, jobTypes: readonly string[]): TopologyPlan {
  const parts = jobTypes.map((jobType) => jobTopology(settings, jobType));
  return {
    exchanges: baseExchanges(settings.namespace),
    queues: parts.flatMap((part) => part.queues),
    bindings: parts.flatMap((part) => part.bindings),
  };
}
