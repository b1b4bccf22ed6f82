import { afterEach, describe, expect, it } from 'vitest';
import { Registry as PromRegistry } from 'prom-client';
import { HealthServer, NonRetryableError, WarrenMetrics, defineJob, jobsExchange } from 'warren';
import { rawConnection, waitFor } from '../helpers/broker.js';
import { metricSamples } from '../helpers/prometheus.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let harness: Harness | undefined;
let http: HealthServer | undefined;
afterEach(async () => {
  await http?.stop();
  await harness?.close();
  [harness, http] = [undefined, undefined];
});

describe('/metrics after a known workload', () => {
  it('counts exactly the successes, retries, dead letters, invalid payloads and duplicates', async () => {
    const metrics = new WarrenMetrics(new PromRegistry());
    const work = defineJob(
      'm.work',
      (payload: { mode: string }, ctx) => {
        if (payload.mode === 'flaky' && ctx.attempt === 1) throw new Error('once');
        if (payload.mode === 'fatal') throw new NonRetryableError('no');
      },
      { idempotent: true },
    );
    harness = await startHarness([work], { metrics, config: { retryTiersMs: [200] } });
    http = new HealthServer({ port: 0, ready: () => harness?.worker.ready ?? false, metrics: metrics.registry });
    const port = await http.start();
    const { client, config } = harness;

    for (let i = 0; i < 5; i += 1) await client.publish('m.work', { mode: 'ok' });
    await client.publish('m.work', { mode: 'flaky' });
    await client.publish('m.work', { mode: 'flaky' });
    await client.publish('m.work', { mode: 'fatal' });
    await client.publish('m.work', { mode: 'ok' }, { messageId: 'same' });
    await expect(client.publish('nowhere', {})).rejects.toThrow();
    const connection = await rawConnection();
    const channel = await connection.createConfirmChannel();
    channel.publish(jobsExchange(config.namespace), 'm.work', Buffer.from('{broken'));
    await channel.waitForConfirms();
    await connection.close();

    const scrape = async () => metricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const processed = (outcome: string) =>
      `warren_jobs_processed_total{queue="${config.namespace}.job.m.work",job_type="m.work",outcome="${outcome}"}`;
    await waitFor('the first wave', async () => (await scrape()).get(processed('success')) === 8, 15_000);
    // The duplicate only after its original succeeded, so de-duplication has recorded it.
    await client.publish('m.work', { mode: 'ok' }, { messageId: 'same' });
    await waitFor('the duplicate', async () => (await scrape()).get(processed('duplicate')) === 1, 15_000);

    const s = await scrape();
    expect(s.get(processed('success'))).toBe(8); // 5 ok + 2 flaky on retry + the first "same"
    expect(s.get(processed('retry'))).toBe(2);
    expect(s.get(processed('dead'))).toBe(1);
    expect(s.get(processed('invalid'))).toBe(1);
    expect(s.get(processed('duplicate'))).toBe(1);
    expect(s.get('warren_retries_total{job_type="m.work",tier="200ms"}')).toBe(2);
    expect(s.get('warren_dead_letters_total{job_type="m.work",reason="non_retryable"}')).toBe(1);
    expect(s.get('warren_dead_letters_total{job_type="m.work",reason="invalid_payload"}')).toBe(1);
    expect(s.get('warren_jobs_published_total{job_type="m.work",outcome="confirmed"}')).toBe(10);
    expect(s.get('warren_jobs_published_total{job_type="nowhere",outcome="returned"}')).toBe(1);
    expect(s.get('warren_job_duration_seconds_count{job_type="m.work"}')).toBe(11);
    expect(s.get(`warren_jobs_in_flight{queue="${config.namespace}.job.m.work"}`)).toBe(0);
    expect(s.get('warren_connection_up{purpose="consume"}')).toBe(1);
    expect(s.get('warren_connection_up{purpose="publish"}')).toBe(1);
    expect(s.get('warren_publish_buffer_length')).toBe(0);
    expect(s.has('warren_nodejs_eventloop_lag_seconds')).toBe(true);
    // Bounded labels: no message id anywhere.
    expect([...s.keys()].some((k) => k.includes('same'))).toBe(false);
  });
});
