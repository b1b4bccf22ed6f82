import type { Registry, RegistryContentType } from 'prom-client';

/** What a histogram needs of a registry, whichever exposition format it is set to. */
type MetricRegistry = Pick<Registry<RegistryContentType>, 'registerMetric'>;

/** One label value's series of a {@link FastHistogram}: what a handler's hot path observes into. */
export interface HistogramChild {
  observe(value: number): void;
}

/** A value of the histogram as prom-client's registry renders it. */
interface RenderedValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

/** The counts of one label value: per bucket (not cumulative), the sum and the count. */
class Series implements HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    // prom-client refuses (throws) what is no finite number; a metric must never fail a job, so it is left out.
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i += 1;
    if (i < bounds.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/**
 * A histogram with one label, registered on a prom-client registry and rendered by it exactly as prom-client's own
 * `Histogram` renders (the same `_bucket` lines with cumulative counts and `le`, then `+Inf`, `_sum` and `_count`;
 * `test/unit/metrics/fast-histogram.test.ts` compares the two texts). Its `observe` is a bucket search and three
 * additions: prom-client's bound child builds a label object, validates it and hashes it again on every call, which
 * was most of a worker's cost of metrics per job (two histograms per delivery).
 */
export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #label: L;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(options: {
    name: string;
    help: string;
    labelName: L;
    buckets: readonly number[];
    registry: MetricRegistry;
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#label = options.labelName;
    this.#bounds = Object.freeze([...options.buckets].sort((a, b) => a - b));
    // prom-client's registry takes any metric of this shape; its types list only its own classes.
    options.registry.registerMetric(this as unknown as Parameters<MetricRegistry['registerMetric']>[0]);
  }

  /** The series of one label value, made on first use; bind it once, off the hot path. */
  labels(value: string): HistogramChild {
    let series = this.#series.get(value);
    if (series === undefined) {
      series = new Series(this.#bounds);
      this.#series.set(value, series);
    }
    return series;
  }

  /** What prom-client's registry reads to render the metric (text and JSON). */
  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: RenderedValue[];
  }> {
    const values: RenderedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [labelValue, series] of this.#series) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += series.counts[i] as number;
        values.push({ labels: { le, [this.#label]: labelValue }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', [this.#label]: labelValue }, value: series.count, metricName: bucket });
      values.push({ labels: { [this.#label]: labelValue }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.#label]: labelValue }, value: series.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Forgets every series (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.#series.clear();
  }
}
