import { formatDuration } from '../config/duration.js';

/**
 * Every exchange and queue name warren uses, built in one place from the namespace.
 * Pure functions: names must read well in the RabbitMQ management UI.
 */

/** Topic exchange producers publish to; routing key = job type. */
export function jobsExchange(namespace: string): string {
  return `${namespace}.jobs`;
}

/** Direct exchange for dead letters; routing key = job type. */
export function deadExchange(namespace: string): string {
  return `${namespace}.dead`;
}

/** The queue of one job type. */
export function jobQueue(namespace: string, jobType: string): string {
  return `${namespace}.job.${jobType}`;
}

/** The dead-letter queue of one job type. */
export function deadQueue(namespace: string, jobType: string): string {
  return `${namespace}.dead.${jobType}`;
}

/** Topic exchange retry copies are published to; routing key `<tier>.<jobType>`. */
export function retryExchange(namespace: string): string {
  return `${namespace}.retry`;
}

/**
 * Topic exchange that expired retry copies (and replayed dead letters) come back through. Each job queue is bound
 * with `*.<jobType>` only, so a copy reaches the queue it came from and no other.
 */
export function requeueExchange(namespace: string): string {
  return `${namespace}.requeue`;
}

/** The name of a retry tier: its delay, e.g. `30s`, `2m`, `1h`. */
export function tierName(delayMs: number): string {
  return formatDuration(delayMs);
}

/** The queue of one retry tier: a queue-level TTL of `delayMs`, dead-lettering to the requeue exchange. */
export function retryQueue(namespace: string, delayMs: number): string {
  return `${namespace}.retry.${tierName(delayMs)}`;
}

/** Routing key of a retry copy: the tier picks the tier queue, the job type picks the queue it returns to. */
export function retryRoutingKey(delayMs: number, jobType: string): string {
  return `${tierName(delayMs)}.${jobType}`;
}

/** Binding of a job queue on the requeue exchange: any one-word prefix, then exactly its job type. */
export function requeueBindingKey(jobType: string): string {
  return `*.${jobType}`;
}

/** Routing key of a replayed dead letter on the requeue exchange. */
export function replayRoutingKey(jobType: string): string {
  return `replay.${jobType}`;
}

/** Routing key of a suspect's deferred copy on the requeue exchange (it returns to the back of its own queue). */
export function suspectRoutingKey(jobType: string): string {
  return `suspect.${jobType}`;
}

/**
 * The replay ledger queue that earlier warren versions declared for a job type (each replayed copy was also routed
 * there). Nothing routes to it any more; `warren dlq replay` deletes it when it is empty and names it when it
 * is not (see `DeadLetterReplay`).
 */
export function legacyReplayLedgerQueue(namespace: string, jobType: string): string {
  return `${namespace}.replayed.${jobType}`;
}

/**
 * Levels of the delayed-delivery cascade: level k holds a message 2^k seconds, so 28 levels reach 2^28 − 1 s
 * (about 8.5 years) at 1 s resolution, on plain RabbitMQ with queue-level TTLs only.
 */
export const DELAY_LEVELS = 28;

/** Longest delay a delayed publish accepts, in milliseconds. */
export const MAX_DELAY_MS = (2 ** DELAY_LEVELS - 1) * 1000;

/** Exchange and queue of one delay level (both carry the same name), e.g. `warren.delay.04` holds 16 s. */
export function delayLevel(namespace: string, level: number): string {
  return `${namespace}.delay.${String(level).padStart(2, '0')}`;
}

/** Topic exchange delayed messages leave the cascade through; each job queue is bound with its exact key. */
export function delayedExchange(namespace: string): string {
  return `${namespace}.delayed`;
}

/**
 * Routing key of a delayed job: the delay in whole seconds as 28 binary words, most significant first, then the
 * job type. Level k looks at its bit: 1 → wait 2^k s in its queue; 0 → pass straight to level k − 1.
 */
export function delayRoutingKey(delaySeconds: number, jobType: string): string {
  const bits: string[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level -= 1)
    bits.push(Math.floor(delaySeconds / 2 ** level) % 2 === 1 ? '1' : '0');
  return `${bits.join('.')}.${jobType}`;
}

/**
 * The level a delayed message enters the cascade at: that of the highest 1 bit of its delay in seconds (level 0 for
 * 0 and 1 s). Every level above it would pass the message straight on, its bit being 0; each such pass is a topic
 * match on the 29-word key in the publishing channel, and through all 28 levels they cost the broker more than the
 * queue write (about 2 ms a message, measured on RabbitMQ 3.10 and 4.0).
 */
export function delayEntryLevel(delaySeconds: number): number {
  let level = 0;
  while (level < DELAY_LEVELS - 1 && delaySeconds >= 2 ** (level + 1)) level += 1;
  return level;
}

/** The binding of a job queue on the delayed exchange: exactly 28 bit words, then its job type. */
export function delayedBindingKey(jobType: string): string {
  return `${'*.'.repeat(DELAY_LEVELS)}${jobType}`;
}

/**
 * The lock of `warren dlq replay` for one job type: an exclusive, auto-deleted queue only one connection can hold.
 * A second replay of the same job type fails to declare it (`RESOURCE_LOCKED`); the broker deletes it when the
 * holder's connection closes, a killed process included. Never carries messages.
 */
export function replayLockQueue(namespace: string, jobType: string): string {
  return `${namespace}.replay-lock.${jobType}`;
}
