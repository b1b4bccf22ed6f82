import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';

/**
 * prom-client, loaded by the first {@link WarrenMetrics} rather than by importing warren: an application without
 * metrics never pays for it (about 12 MB of RSS). It is CommonJS, so this is the very module an `import` of it gets.
 */
const promClient = (): typeof PromClient => createRequire(import.meta.url)('prom-client') as typeof PromClient;

/** Outcomes of a publish of a job. */
export type PublishOutcome = 'confirmed' | 'returned' | 'timeout' | 'error';
/** Outcomes of a processed delivery (`timeout` is a failed attempt that ran out of time, retried or not). */
export type ProcessOutcome = 'success' | 'retry' | 'dead' | 'invalid' | 'timeout' | 'duplicate';

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3_600];

/**
 * Every metric warren exports, on an injected prom-client registry (never the global one). Names follow
 * Prometheus conventions (`warren_` prefix, base units, `_total` counters) and every label is bounded: job
 * types, queues, tiers, reasons, schedules and outcomes, never a job id. Documented in docs/metrics.md.
 */
export class WarrenMetrics {
  readonly registry: Registry;
  readonly published: Counter<'job_type' | 'outcome'>;
  readonly processed: Counter<'queue' | 'job_type' | 'outcome'>;
  /** Observed twice per delivery with the next: a histogram of warren's own, rendered by the registry as prom-client's. */
  readonly duration: FastHistogram<'job_type'>;
  readonly wait: FastHistogram<'job_type'>;
  readonly inFlight: Gauge<'queue'>;
  readonly retries: Counter<'job_type' | 'tier'>;
  readonly deadLetters: Counter<'job_type' | 'reason'>;
  readonly fires: Counter<'schedule' | 'outcome'>;
  readonly connectionUp: Gauge<'purpose'>;
  readonly reconnects: Counter<'purpose'>;
  readonly connectionNode: Gauge<'purpose' | 'node'>;
  readonly staleSettles: Counter<'queue'>;
  readonly publishBuffer: Gauge;
  readonly #bufferSources: Array<() => number> = [];
  readonly #inFlightSources = new Map<string, Array<() => number>>();
  readonly #deferred: DeferredCount[] = [];
  readonly #published = new Map<string, DeferredCount>();

  constructor(registry: Registry, options: { defaultMetrics?: boolean } = {}) {
    const { Counter, Gauge, collectDefaultMetrics } = promClient();
    this.registry = registry;
    const registers = [registry];
    const deferred = this.#deferred;
    this.published = new Counter({
      name: 'warren_jobs_published_total',
      help: 'Jobs published from application code, the CLI, the scheduler and handlers (child jobs), by outcome of the broker confirm.',
      labelNames: ['job_type', 'outcome'] as const,
      registers,
      collect() {
        for (const count of deferred) count.flush();
      },
    });
    this.processed = new Counter({
      name: 'warren_jobs_processed_total',
      help: 'Deliveries settled by a worker, by outcome.',
      labelNames: ['queue', 'job_type', 'outcome'] as const,
      registers,
      collect() {
        for (const count of deferred) count.flush();
      },
    });
    this.duration = new FastHistogram({
      name: 'warren_job_duration_seconds',
      help: 'Time a handler ran, successful or not.',
      labelName: 'job_type',
      buckets: DURATION_BUCKETS,
      registry,
    });
    this.wait = new FastHistogram({
      name: 'warren_job_wait_seconds',
      help: "Time from the message's publish timestamp (whole seconds, AMQP) to its handler starting.",
      labelName: 'job_type',
      buckets: WAIT_BUCKETS,
      registry,
    });
    const inFlightSources = this.#inFlightSources;
    this.inFlight = new Gauge({
      name: 'warren_jobs_in_flight',
      help: 'Jobs being handled now, by queue.',
      labelNames: ['queue'] as const,
      registers,
      collect() {
        for (const [queue, sources] of inFlightSources)
          this.labels(queue).set(sources.reduce((sum, source) => sum + source(), 0));
      },
    });
    this.retries = new Counter({
      name: 'warren_retries_total',
      help: 'Retry copies confirmed into a retry tier.',
      labelNames: ['job_type', 'tier'] as const,
      registers,
    });
    this.deadLetters = new Counter({
      name: 'warren_dead_letters_total',
      help: 'Dead-letter copies confirmed by warren, by reason (broker dead-lettering past the delivery limit is not seen here).',
      labelNames: ['job_type', 'reason'] as const,
      registers,
    });
    this.fires = new Counter({
      name: 'warren_scheduler_fires_total',
      help: 'Schedule fires seen by this scheduler, by outcome.',
      labelNames: ['schedule', 'outcome'] as const,
      registers,
    });
    this.connectionUp = new Gauge({
      name: 'warren_connection_up',
      help: '1 while the AMQP connection of that purpose is up.',
      labelNames: ['purpose'] as const,
      registers,
    });
    this.connectionNode = new Gauge({
      name: 'warren_connection_node',
      help: 'Which broker node the AMQP connection of that purpose is on: 1 for that node, 0 for the other configured ones.',
      labelNames: ['purpose', 'node'] as const,
      registers,
    });
    this.reconnects = new Counter({
      name: 'warren_reconnects_total',
      help: 'AMQP reconnections after the first connect.',
      labelNames: ['purpose'] as const,
      registers,
    });
    this.staleSettles = new Counter({
      name: 'warren_stale_settles_total',
      help: 'Acks and rejects dropped because the channel the delivery came on had closed (the broker redelivers).',
      labelNames: ['queue'] as const,
      registers,
    });
    const sources = this.#bufferSources;
    this.publishBuffer = new Gauge({
      name: 'warren_publish_buffer_length',
      help: 'Publishes waiting for a connection.',
      registers,
      collect() {
        this.set(sources.reduce((sum, source) => sum + source(), 0));
      },
    });
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: registry, prefix: 'warren_' });
      // Gauges named `_total` break Prometheus naming rules (promtool check metrics); the per-type gauges stay.
      for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
        registry.removeSingleMetric(`warren_nodejs_${name}`);
      }
    }
  }

  /** Adds a consumer whose jobs in flight are read at each scrape (a gauge set per delivery cost two calls a job). */
  watchInFlight(queue: string, source: () => number): void {
    const sources = this.#inFlightSources.get(queue) ?? [];
    sources.push(source);
    this.#inFlightSources.set(queue, sources);
  }

  /**
   * A `warren_jobs_processed_total` series counted in a plain number per delivery and added to the counter when the
   * registry collects (every scrape): prom-client's bound child hashes its labels on every `inc`. The series exists
   * (at 0) from this call on.
   */
  processedCount(queue: string, jobType: string, outcome: ProcessOutcome): DeferredCount {
    const child = this.processed.labels(queue, jobType, outcome);
    child.inc(0);
    const count = new DeferredCount(child);
    this.#deferred.push(count);
    return count;
  }

  /** A `warren_jobs_published_total` series kept like {@link WarrenMetrics.processedCount}'s (one per job type and outcome). */
  publishedCount(jobType: string, outcome: PublishOutcome): DeferredCount {
    const key = `${outcome} ${jobType}`;
    let count = this.#published.get(key);
    if (count === undefined) {
      count = new DeferredCount(this.published.labels(jobType, outcome));
      this.#published.set(key, count);
      this.#deferred.push(count);
    }
    return count;
  }

  /** Adds a publisher whose buffer length is read at each scrape. */
  watchPublishBuffer(source: () => number): void {
    this.#bufferSources.push(source);
  }
}

/** A count of a counter series kept in a plain number, added to the series at each collect. */
export class DeferredCount {
  readonly #child: { inc(value: number): void };
  #pending = 0;

  constructor(child: { inc(value: number): void }) {
    this.#child = child;
  }

  inc(): void {
    this.#pending += 1;
  }

  /** Adds what was counted since the last flush to the series. */
  flush(): void {
    if (this.#pending === 0) return;
    this.#child.inc(this.#pending);
    this.#pending = 0;
  }
}
