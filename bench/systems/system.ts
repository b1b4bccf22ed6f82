import type { BenchPayload } from '../lib/payload.js';

/** The systems compared. */
export const SYSTEM_NAMES = ['warren', 'amqplib', 'bullmq'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/**
 * The prefetch the bench runs a job of concurrency `concurrency` with: twice it, the setting for short jobs (warren's
 * `prefetch` option; its default is the concurrency). Raw amqplib, whose handler is synchronous, gets the same.
 */
export function shortJobPrefetch(concurrency: number): number {
  return Math.min(2 * concurrency, 65_535);
}

/** What one trial runs against: a namespace of its own and the consumer settings. */
export interface TrialTarget {
  /** Unique per trial: warren namespace, raw queue/exchange prefix, BullMQ key prefix. Deleted afterwards. */
  readonly id: string;
  /** Prefetch (RabbitMQ) or concurrency (BullMQ). */
  readonly prefetch: number;
  /** Delay of the single retry tier, for the retry scenario; no retries otherwise. */
  readonly retryDelayMs: number | undefined;
  readonly amqpUrl: string;
  readonly redisUrl: string;
  /** Run warren with metrics on an injected prom-client registry (as production would). */
  readonly metrics: boolean;
  /** warren only: this many pass-through middleware around the handler (`worker.use((ctx, next) => next())`). */
  readonly middleware: number;
}

/** What the scenario does inside the handler and after each successful settle. */
export interface ConsumerHooks {
  /** The handler body: `attempt` is 1 on the first delivery. Throw to fail the attempt. */
  handle(payload: BenchPayload, attempt: number): void;
  /** After a delivery was handled successfully and acknowledged (acked / completed). */
  acked(): void;
}

/**
 * One system under test, driven the same way by every scenario. No I/O before a method is called; `close` stops
 * whatever was started; `destroy` deletes every queue, exchange or key the trial created.
 */
export interface BenchSystem {
  readonly name: SystemName;
  /** Declares the trial's queues without consuming (for scenarios that publish before any consumer runs). */
  declare(): Promise<void>;
  startConsumer(hooks: ConsumerHooks): Promise<void>;
  startPublisher(): Promise<void>;
  /** Publishes one job; resolves when the broker (or Redis) has it (publisher confirm / `add` resolved). */
  publish(payload: BenchPayload): Promise<unknown>;
  stopPublisher(): Promise<void>;
  stopConsumer(): Promise<void>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}
