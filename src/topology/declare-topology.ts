import type { Channel, ChannelModel } from 'amqplib';
import { TopologyConflictError } from '../errors/topology-conflict-error.js';
import type { TopologyPlan } from './topology-plan.js';

const INEQUIVALENT = /inequivalent arg '([^']+)' for (queue|exchange) '([^']+)'[^:]*: (.*)$/;

/**
 * Declares a plan on a channel, idempotently, in order: exchanges → queues → bindings.
 * Runs at startup and again in every channel's setup after a reconnect.
 *
 * @throws TopologyConflictError when something exists with other arguments (the broker then closes the channel).
 */
export async function declareTopology(channel: Channel, plan: TopologyPlan, model?: ChannelModel): Promise<void> {
  try {
    for (const exchange of plan.exchanges) {
      await channel.assertExchange(exchange.name, exchange.type, { durable: true });
    }
    for (const queue of plan.queues) {
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
