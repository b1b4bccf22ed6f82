import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { WarrenMetrics } from '../../../src/metrics/warren-metrics.js';

describe('the series a delivery touches, read at each scrape', () => {
  it('warren_jobs_processed_total: at 0 once bound, then every count, scrape after scrape', async () => {
    const metrics = new WarrenMetrics(new Registry(), { defaultMetrics: false });
    const success = metrics.processedCount('ns.job.a', 'a', 'success');
    const line = 'warren_jobs_processed_total{queue="ns.job.a",job_type="a",outcome="success"}';
    expect(await metrics.registry.metrics()).toContain(`${line} 0`);
    for (let i = 0; i < 3; i += 1) success.inc();
    expect(await metrics.registry.metrics()).toContain(`${line} 3`);
    expect(await metrics.registry.metrics()).toContain(`${line} 3`);
    success.inc();
    const json = await metrics.registry.getMetricsAsJSON();
    const processed = json.find((m) => m.name === 'warren_jobs_processed_total');
    expect(processed?.values).toEqual([expect.objectContaining({ value: 4 })]);
  });

  it('warren_jobs_in_flight: what each consumer of the queue holds at the scrape, summed', async () => {
    const metrics = new WarrenMetrics(new Registry(), { defaultMetrics: false });
    let first = 2;
    metrics.watchInFlight('ns.job.a', () => first);
    metrics.watchInFlight('ns.job.a', () => 1);
    metrics.watchInFlight('ns.job.b', () => 0);
    expect(await metrics.registry.metrics()).toContain('warren_jobs_in_flight{queue="ns.job.a"} 3');
    expect(await metrics.registry.metrics()).toContain('warren_jobs_in_flight{queue="ns.job.b"} 0');
    first = 0;
    expect(await metrics.registry.metrics()).toContain('warren_jobs_in_flight{queue="ns.job.a"} 1');
  });
});
