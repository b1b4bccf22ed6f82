import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from '../../../src/metrics/fast-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

/** The same observations into prom-client's Histogram and into warren's, each on a registry of its own. */
function both(observations: ReadonlyArray<[string, number]>) {
  const theirs = new Registry<RegistryContentType>();
  const ours = new Registry<RegistryContentType>();
  const reference = new Histogram({
    name: 'x_seconds',
    help: 'Help, with "quotes" and a \\ backslash.',
    labelNames: ['job_type'] as const,
    buckets: BUCKETS,
    registers: [theirs],
  });
  const fast = new FastHistogram({
    name: 'x_seconds',
    help: 'Help, with "quotes" and a \\ backslash.',
    labelName: 'job_type',
    buckets: BUCKETS,
    registry: ours,
  });
  for (const [label, value] of observations) {
    reference.labels(label).observe(value);
    fast.labels(label).observe(value);
  }
  return { theirs, ours, fast };
}

describe('FastHistogram, rendered by prom-client’s registry', () => {
  it('renders exactly what prom-client’s Histogram renders for the same observations, text and OpenMetrics', async () => {
    const observations: Array<[string, number]> = [];
    for (let i = 0; i < 500; i += 1)
      observations.push([i % 3 === 0 ? 'email.send' : 'report "q"\\x', (i % 37) * 0.017]);
    observations.push(['email.send', 0.001], ['email.send', 10], ['email.send', 11], ['email.send', 0]);
    const { theirs, ours } = both(observations);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    theirs.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    ours.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('matches prom-client in JSON too, and for a series bound but never observed', async () => {
    const { theirs, ours, fast } = both([['a', 0.5]]);
    fast.labels('bound-only');
    const json = (await ours.getMetricsAsJSON())[0];
    const reference = (await theirs.getMetricsAsJSON())[0];
    // prom-client adds an empty `exemplar` to its own; the rest is the same.
    const plain = (values: ReadonlyArray<{ labels: object; value: number; metricName?: string }> = []) =>
      values.map(({ labels, value, metricName }) => ({ labels, value, metricName }));
    expect(plain(json?.values.filter((v) => v.labels['job_type'] === 'a'))).toEqual(plain(reference?.values));
    expect(json?.values.filter((v) => v.labels['job_type'] === 'bound-only').map((v) => v.value)).toEqual(
      Array(BUCKETS.length + 3).fill(0),
    );
  });

  it('leaves out what is no finite number (prom-client would throw into the job), and forgets all on reset', async () => {
    const { ours, fast } = both([['a', 1]]);
    fast.labels('a').observe(Number.NaN);
    fast.labels('a').observe(Number.POSITIVE_INFINITY);
    expect(await ours.metrics()).toContain('x_seconds_count{job_type="a"} 1');
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('job_type="a"');
  });
});
