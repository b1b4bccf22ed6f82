import type { Channel, ChannelModel } from 'amqplib';
import { TopologyConflictError } from '../errors/topology-conflict-error.js';
import type { QueueSpec, TopologyPlan } from './topology-plan.js';

const INEQUIVALENT = /inequivalent arg '([^']+)' for (queue|exchange) '([^']+)'[^:]*: (.*)$/;

/** What declaring a plan found. */
export interface DeclaredTopology {
  /**
   * Queues of the plan that exist with their {@link QueueSpec.legacyArguments} (an earlier warren declared them) and
   * were left as they are; empty when every queue has today's arguments.
   */
  readonly legacyQueues: readonly QueueSpec[];
}

/**
 * Declares a plan on a channel, idempotently, in order: exchanges → queues → bindings.
 * Runs at startup and again in every channel's setup after a reconnect.
 *
 * With `model`, a queue that has `legacyArguments` is declared on a channel of its own, so that finding it with
 * those (a PRECONDITION_FAILED, which closes the channel it happens on) leaves `channel` open: it is then used as it
 * is and listed in the result. Without `model` such a queue is declared like any other and fails on a conflict.
 *
 * @throws TopologyConflictError when something exists with other arguments (the broker then closes the channel).
 */
export async function declareTopology(
  channel: Channel,
  plan: TopologyPlan,
  model?: ChannelModel,
): Promise<DeclaredTopology> {
  const legacyQueues: QueueSpec[] = [];
  try {
    for (const exchange of plan.exchanges) {
      await channel.assertExchange(exchange.name, exchange.type, { durable: true });
    }
    for (const queue of plan.queues) {
      if (model && queue.legacyArguments) {
        if ((await declareQueueOrLegacy(model, queue)) === 'legacy') legacyQueues.push(queue);
        continue;
      }
      await channel.assertQueue(queue.name, { durable: true, arguments: { ...queue.arguments } });
    }
    for (const binding of plan.bindings) {
      await channel.bindQueue(binding.queue, binding.exchange, binding.routingKey);
    }
    for (const binding of plan.exchangeBindings ?? []) {
      await channel.bindExchange(binding.destination, binding.source, binding.routingKey);
    }
  } catch (error) {
    const conflict = toTopologyError(error);
    throw model && conflict instanceof TopologyConflictError ? await rootCause(conflict, plan, model) : conflict;
  }
  return { legacyQueues };
}

/**
 * Declares a queue with its arguments on a channel of its own; when that conflicts and the queue has
 * `legacyArguments`, checks on another channel that it exists with exactly those (RabbitMQ compares the arguments
 * both ways: one it has and the declaration lacks is a conflict too).
 *
 * @returns `current` when the queue has (now) today's arguments, `legacy` when it has its legacy ones.
 * @throws the broker's PRECONDITION_FAILED of the first declaration when the queue has other arguments still.
 */
export async function declareQueueOrLegacy(model: ChannelModel, queue: QueueSpec): Promise<'current' | 'legacy'> {
  try {
    await onOwnChannel(model, (channel) =>
      channel.assertQueue(queue.name, { durable: true, arguments: { ...queue.arguments } }),
    );
    return 'current';
  } catch (error) {
    const legacy = queue.legacyArguments;
    if (!legacy || !(toTopologyError(error) instanceof TopologyConflictError)) throw error;
    try {
      await onOwnChannel(model, (channel) =>
        channel.assertQueue(queue.name, { durable: true, arguments: { ...legacy } }),
      );
    } catch {
      throw error; // It differs in more than the legacy arguments: the first conflict names what warren declares.
    }
    return 'legacy';
  }
}

async function onOwnChannel(model: ChannelModel, work: (channel: Channel) => Promise<unknown>): Promise<void> {
  const channel = await model.createChannel();
  channel.on('error', () => {
    // A PRECONDITION_FAILED closes this channel only; the declaration's rejection carries it.
  });
  try {
    await work(channel);
  } finally {
    await channel.close().catch(() => {});
  }
}

/**
 * RabbitMQ names the first differing argument in its own order (for a classic queue, `x-dead-letter-exchange`
 * comes before `x-queue-type`). A different queue type is the cause that matters, so on a conflict probe for it
 * on a throwaway channel: a declare with the queue type alone fails on `x-queue-type` exactly when that differs.
 */
async function rootCause(conflict: TopologyConflictError, plan: TopologyPlan, model: ChannelModel): Promise<unknown> {
  const name = /^queue "([^"]+)"/.exec(conflict.message)?.[1];
  const queue = plan.queues.find((q) => q.name === name);
  const type = queue?.arguments['x-queue-type'];
  if (!queue || type === undefined || conflict.message.includes('x-queue-type')) return conflict;
  let probe: Channel | undefined;
  try {
    probe = await model.createChannel();
    probe.on('error', () => {});
    await probe.assertQueue(queue.name, { durable: true, arguments: { 'x-queue-type': type } });
  } catch (probeError) {
    const typed = toTopologyError(probeError);
    if (typed instanceof TopologyConflictError && typed.message.includes('x-queue-type')) return typed;
  } finally {
    await probe?.close().catch(() => {});
  }
  return conflict;
}

/** Maps the broker's PRECONDITION_FAILED into an error naming the queue or exchange and the argument. */
export function toTopologyError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  const match = INEQUIVALENT.exec(message.replace(/"$/, ''));
  if (!match) return error;
  const [, argument = '', kind = '', name = '', detail = ''] = match;
  const declared = /received (?:the value )?(?:'([^']*)'|none)/.exec(detail)?.[1];
  const current = /current is (?:the value )?(?:'([^']*)'|none)/.exec(detail)?.[1];
  const show = (value: string | undefined): string => (value === undefined ? 'none' : JSON.stringify(value));
  return new TopologyConflictError(
    `${kind} "${name}" already exists with a different ${argument}: warren declares ${show(declared)}, ` +
      `the existing ${kind} has ${show(current)}; delete the ${kind} or change the settings to match it`,
    { cause: error },
  );
}
