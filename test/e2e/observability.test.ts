import { readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WarrenClient } from 'warren';
import { AMQP_URL, deleteNamespace, memoryLogger, testConfig, uniqueNamespace, waitFor } from '../helpers/broker.js';
import { ROOT, spawnWarren, type WarrenProcess } from '../helpers/cli.js';
import {
  FILES,
  RABBITMQ_METRICS,
  alertExpressions,
  dashboardExpressions,
  fetchText,
  hasMetric,
  loadJson,
  loadYaml,
  metricFamilies,
  metricNames,
  metricSamples,
  promtool,
  repoPath,
  runCommand,
  startPrometheus,
  withGrafanaVariables,
  type Dashboard,
  type RuleGroups,
  type TestPrometheus,
} from '../helpers/prometheus.js';

// The observability stack against a live `warren start` (the example handlers), the shared broker's
// rabbitmq_prometheus plugin and a real Prometheus (Debian's package).

const JOB_TYPES = ['email.send', 'report.generate'];
const OK_EMAIL = { to: 'a@example.com', subject: 'Hi', body: 'Hello' };
// The example handler throws NonRetryableError for an unknown template: dead-lettered as non_retryable.
const UNKNOWN_TEMPLATE = { ...OK_EMAIL, template: 'no-such-template' };
// Fails the handler's schema: dead-lettered as invalid_payload, the handler never runs.
const INVALID = { to: 'not-an-address' };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
});

interface LiveWorker {
  readonly namespace: string;
  readonly proc: WarrenProcess;
  readonly port: number;
  scrape(): Promise<string>;
}

/** `warren start` with the example handlers on a namespace of its own; its HTTP port is read from stderr. */
async function startWorker(): Promise<LiveWorker> {
  const namespace = uniqueNamespace('obs');
  cleanups.push(() => deleteNamespace(namespace, JOB_TYPES));
  const proc = spawnWarren(['start'], {
    WARREN_NAMESPACE: namespace,
    WARREN_HTTP_PORT: '0',
    WARREN_LOG_LEVEL: 'warn',
    WARREN_DEDUP_TTL_MS: '2m',
  });
  cleanups.push(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  });
  const listening = /warren: http:\/\/0\.0\.0\.0:(\d+)\/metrics/;
  await proc.waitForOutput(listening, 30_000);
  const port = Number(listening.exec(proc.stderr())?.[1]);
  return { namespace, proc, port, scrape: () => fetchText(`http://127.0.0.1:${port}/metrics`) };
}

/** A client publishing into the worker's namespace. */
async function startClient(namespace: string): Promise<WarrenClient> {
  const client = new WarrenClient({ config: testConfig({ namespace }), logger: memoryLogger('warn').logger });
  await client.start();
  cleanups.push(() => client.close());
  return client;
}

/** Publishes `ok` successes, one unknown-template (non_retryable) and one invalid e-mail; waits until all are settled. */
async function driveWorkload(worker: LiveWorker, client: WarrenClient, ok: number): Promise<void> {
  for (let i = 0; i < ok; i += 1) await client.publish('email.send', OK_EMAIL);
  await client.publish('email.send', UNKNOWN_TEMPLATE);
  await client.publish('email.send', INVALID);
  const processed = (outcome: string) =>
    `warren_jobs_processed_total{queue="${worker.namespace}.job.email.send",job_type="email.send",outcome="${outcome}"}`;
  await waitFor(
    'the workload to be settled',
    async () => {
      const samples = metricSamples(await worker.scrape());
      return (
        samples.get(processed('success')) === ok &&
        samples.get(processed('dead')) === 1 &&
        samples.get(processed('invalid')) === 1
      );
    },
    20_000,
    100,
  );
}

/** Metric families of RabbitMQ's plugin: the aggregated /metrics and the /metrics/detailed scrape Prometheus is configured with. */
async function rabbitmqFamilies(): Promise<Map<string, string>> {
  const config = (await loadYaml(FILES.prometheusConfig)) as {
    scrape_configs: Array<{ job_name: string; metrics_path?: string; params?: Record<string, string[]> }>;
  };
  const families = new Map<string, string>();
  const rabbitJobs = config.scrape_configs.filter((job) => job.job_name.startsWith('rabbitmq'));
  expect(rabbitJobs.length).toBeGreaterThanOrEqual(2);
  for (const job of rabbitJobs) {
    const query = new URLSearchParams(
      Object.entries(job.params ?? {}).flatMap(([key, values]) => values.map((v): [string, string] => [key, v])),
    ).toString();
    const url = `${RABBITMQ_METRICS}${job.metrics_path ?? '/metrics'}${query ? `?${query}` : ''}`;
    let text: string;
    try {
      text = await fetchText(url);
    } catch (error) {
      throw new Error(
        `RabbitMQ's Prometheus plugin does not answer ${url} (${(error as Error).message}): run \`rabbitmq-plugins enable rabbitmq_prometheus\` (.ci/run does this)`,
        { cause: error },
      );
    }
    for (const [name, type] of metricFamilies(text)) families.set(name, type);
  }
  return families;
}

describe('metric names used by the dashboard, the alerts and docs/metrics.md', () => {
  it('all exist in a live scrape of warren start or in the rabbitmq_prometheus output', async () => {
    const worker = await startWorker();
    const client = await startClient(worker.namespace);
    await driveWorkload(worker, client, 2);
    const warren = metricFamilies(await worker.scrape());
    const rabbitmq = await rabbitmqFamilies();
    // Families of warren's own metric set are declared even before their first sample.
    for (const family of [
      'warren_retries_total',
      'warren_scheduler_fires_total',
      'warren_reconnects_total',
      'warren_stale_settles_total',
    ]) {
      expect(warren.get(family), family).toBe('counter');
    }
    expect(warren.get('warren_job_duration_seconds')).toBe('histogram');

    const dashboard = loadJson(FILES.dashboard) as Dashboard;
    const rules = (await loadYaml(FILES.alerts)) as RuleGroups;
    const uses = [...dashboardExpressions(dashboard), ...alertExpressions(rules)].flatMap(({ where, expr }) =>
      metricNames(expr).map((name) => ({ where, name })),
    );
    const names = new Set(uses.map((u) => u.name));
    expect(names.size, 'metric names found in the dashboard and rules').toBeGreaterThanOrEqual(20);
    const missing = uses.filter(({ name }) => name !== 'up' && !hasMetric(warren, name) && !hasMetric(rabbitmq, name));
    expect(missing, 'names used but exported by neither warren nor RabbitMQ').toEqual([]);

    // The document names only metrics that exist, and every metric of warren's own set is documented.
    const doc = readFileSync(repoPath(FILES.metricsDoc), 'utf8');
    const plugins = new Set(['rabbitmq_prometheus', 'rabbitmq_management']);
    const documented = [...doc.matchAll(/\b((?:warren|rabbitmq)_[a-z0-9_]*[a-z0-9])\b(?!\*|_\*)/g)]
      .map((m) => m[1] as string)
      .filter((name) => !plugins.has(name));
    expect(documented.length).toBeGreaterThan(20);
    const unknown = [...new Set(documented)].filter((name) => !hasMetric(warren, name) && !hasMetric(rabbitmq, name));
    expect(unknown, 'docs/metrics.md names metrics that do not exist').toEqual([]);
    const own = [...warren.keys()].filter((name) => !/^warren_(process|nodejs)_/.test(name));
    expect(own.length).toBeGreaterThanOrEqual(12);
    for (const name of own) expect(doc, `${name} is documented`).toContain(`\`${name}\``);
  });
});

describe('promtool check metrics', () => {
  it('finds nothing wrong in a live scrape', async () => {
    const worker = await startWorker();
    const client = await startClient(worker.namespace);
    await driveWorkload(worker, client, 2);
    const text = await worker.scrape();
    const result = await promtool(['check', 'metrics'], text);
    const findings = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
    expect(findings, `promtool check metrics (exit ${result.code})`).toEqual([]);
    expect(result.code).toBe(0);
  });
});

describe('a real Prometheus scraping warren start and RabbitMQ, with the alert rules', () => {
  it('reports the targets up, the exact job counts, data for the dashboard, and the alerts that should fire', async () => {
    const worker = await startWorker();
    const { namespace } = worker;
    const client = await startClient(namespace);

    const shipped = (await loadYaml(FILES.prometheusConfig)) as {
      scrape_configs: Array<Record<string, unknown> & { job_name: string }>;
    };
    const rabbitJobs = shipped.scrape_configs
      .filter((job) => job.job_name.startsWith('rabbitmq'))
      .map((job) => ({ ...job, static_configs: [{ targets: [new URL(RABBITMQ_METRICS).host] }] }));
    // The shipped rules, with the default namespace in queue regexes replaced by this test's.
    const rulesText = readFileSync(repoPath(FILES.alerts), 'utf8');
    const ourRules = rulesText.replaceAll('"warren\\\\.', `"${namespace}\\\\.`);
    expect(ourRules).not.toBe(rulesText);
    const prometheus: TestPrometheus = await startPrometheus(
      {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        scrape_configs: [
          { job_name: 'warren-workers', static_configs: [{ targets: [`127.0.0.1:${worker.port}`] }] },
          ...rabbitJobs,
        ],
      },
      { 'alerts.yml': ourRules },
    );
    cleanups.push(() => prometheus.stop());
    const value = async (expr: string): Promise<number | undefined> => {
      const [first] = await prometheus.query(expr);
      return first ? Number(first.value[1]) : undefined;
    };
    const context = (): string => `\nprometheus log:\n${prometheus.log().slice(-2_000)}`;

    await waitFor(
      'every target to be scraped and up',
      async () => {
        const targets = await prometheus.targets();
        return targets.length === 1 + rabbitJobs.length && targets.every((t) => t.health === 'up');
      },
      20_000,
      200,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await prometheus.targets())}${context()}`);
    });
    const targets = await prometheus.targets();
    expect(targets.find((t) => t.job === 'warren-workers')?.scrapeUrl).toBe(`http://127.0.0.1:${worker.port}/metrics`);
    // Prometheus has seen the empty dead-letter queue before anything is dead-lettered (for the growth alert).
    await waitFor(
      'the empty dead-letter queue in Prometheus',
      async () => (await value(`rabbitmq_detailed_queue_messages{queue="${namespace}.dead.email.send"}`)) === 0,
      15_000,
      200,
    );

    const OK = 5;
    await driveWorkload(worker, client, OK);
    const byOutcome = 'sum by (outcome) (warren_jobs_processed_total{job="warren-workers",job_type="email.send"})';
    const outcomes = async (): Promise<Record<string, number>> =>
      Object.fromEntries((await prometheus.query(byOutcome)).map((s) => [s.metric['outcome'], Number(s.value[1])]));
    // Every outcome's series exists from the start at 0.
    const expected = { success: OK, dead: 1, invalid: 1, retry: 0, timeout: 0, duplicate: 0 };
    // Counters only grow: once Prometheus has the settled counts they stay; more than expected never matches.
    const sorted = (record: Record<string, number>): string => JSON.stringify(Object.entries(record).sort());
    await waitFor(
      'Prometheus to scrape the settled workload',
      async () => sorted(await outcomes()) === sorted(expected),
      15_000,
      200,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}: last ${JSON.stringify(await outcomes())}`);
    });
    expect(await outcomes()).toEqual(expected);
    expect(await value('warren_jobs_processed_total{job="warren-workers",outcome="success"}')).toBe(OK);
    expect(await value('warren_dead_letters_total{job_type="email.send",reason="non_retryable"}')).toBe(1);
    expect(await value(`warren_jobs_in_flight{queue="${namespace}.job.email.send"}`)).toBe(0);
    expect(await value('min(warren_connection_up{job="warren-workers"})')).toBe(1);
    expect(await value(`rabbitmq_detailed_queue_consumers{queue="${namespace}.job.email.send"}`)).toBe(1);
    await waitFor(
      'the dead letters in RabbitMQ',
      async () => (await value(`rabbitmq_detailed_queue_messages{queue="${namespace}.dead.email.send"}`)) === 2,
      15_000,
      200,
    );

    // Every dashboard and alert query evaluates on Prometheus; the panels this workload feeds return data.
    const dashboard = loadJson(FILES.dashboard) as Dashboard;
    const rules = (await loadYaml(FILES.alerts)) as RuleGroups;
    const empty: string[] = [];
    for (const { where, expr } of dashboardExpressions(dashboard)) {
      if (expr.startsWith('label_values(')) continue;
      const result = await prometheus.query(withGrafanaVariables(expr, { namespace, rateInterval: '1m' }));
      if (result.length === 0) empty.push(where);
    }
    for (const { expr } of alertExpressions(rules)) await prometheus.query(expr);
    const fed = [
      'Jobs processed',
      'Failed attempts',
      'In flight',
      'Ready in job queues',
      'Dead letters waiting',
      'Processes connected',
      'Jobs processed by outcome',
      'Handler duration',
      'Wait before start',
      'Ready per job queue',
      'Unacknowledged per job queue',
      'Consumers per job queue',
      'Waiting in retry tiers',
      'Dead-letter queue depth',
      'Dead letters by reason',
      'In flight by queue',
      'Connection state',
      'Publish buffer',
      'Event loop lag p99',
      'CPU',
      'Resident memory',
    ];
    expect(
      empty.filter((where) => fed.some((title) => where.startsWith(`panel "${title}" `))),
      'panels without data',
    ).toEqual([]);

    const active = async (alertname: string, labels: Record<string, string> = {}): Promise<boolean> =>
      (await prometheus.alerts()).some(
        (a) => a.labels['alertname'] === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
      );
    for (const [alertname, labels] of [
      ['WarrenJobsDeadLettered', { job_type: 'email.send', reason: 'non_retryable' }],
      ['WarrenJobsDeadLettered', { job_type: 'email.send', reason: 'invalid_payload' }],
      ['WarrenDeadLetterQueueGrowing', { queue: `${namespace}.dead.email.send` }],
    ] as const) {
      await waitFor(`alert ${alertname} ${JSON.stringify(labels)}`, () => active(alertname, labels), 15_000, 200);
    }
    expect(await active('WarrenTargetDown')).toBe(false);
    expect(await active('WarrenNoWorkers')).toBe(false);
    expect(await active('WarrenBrokerConnectionDown')).toBe(false);
    expect(await active('WarrenQueueWithoutConsumers')).toBe(false);

    // The worker stops; a job arrives with nobody to take it.
    worker.proc.child.kill('SIGTERM');
    expect(await worker.proc.exited).toBe(0);
    await client.publish('email.send', OK_EMAIL);
    for (const [alertname, labels] of [
      ['WarrenTargetDown', { job: 'warren-workers' }],
      ['WarrenNoWorkers', {}],
      ['WarrenQueueWithoutConsumers', { queue: `${namespace}.job.email.send` }],
    ] as const) {
      await waitFor(
        `alert ${alertname} ${JSON.stringify(labels)}${context()}`,
        () => active(alertname, labels),
        20_000,
        200,
      );
    }
  }, 120_000);
});

describe("docker-compose's demo publisher", () => {
  it('publishes successes, non-retryable failures, invalid payloads and reports that a worker settles as such', async () => {
    const worker = await startWorker();
    const file = (await loadYaml(FILES.compose)) as { services: Record<string, { command?: string[] }> };
    const script = (file.services['demo-publisher']?.command ?? []).join('\n').replaceAll('$$', '$');
    // Ten rounds without pauses instead of the demo's hundred, once a second.
    const short = script.replace(/^rounds=\d+/m, 'rounds=10').replace(/^pause=\d+/m, 'pause=0');
    expect(short).toMatch(/^rounds=10\b/m);
    expect(short).toMatch(/^pause=0$/m);
    const env = {
      ...process.env,
      PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}`,
      WARREN_NAMESPACE: worker.namespace,
      WARREN_AMQP_URL: AMQP_URL,
    };
    const run = await runCommand('/bin/sh', ['-c', short], { cwd: ROOT, env, timeoutMs: 120_000 });
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/demo: done/);

    const series = (queue: string, jobType: string, outcome: string) =>
      `warren_jobs_processed_total{queue="${worker.namespace}.job.${queue}",job_type="${jobType}",outcome="${outcome}"}`;
    // The first e-mail and two per round; every fifth round one unknown template, every seventh an invalid payload,
    // every tenth a report.
    const expected = new Map([
      [series('email.send', 'email.send', 'success'), 21],
      [series('email.send', 'email.send', 'dead'), 2],
      [series('email.send', 'email.send', 'invalid'), 1],
      [series('report.generate', 'report.generate', 'success'), 1],
    ]);
    await waitFor(
      'the demo jobs to be settled',
      async () => {
        const samples = metricSamples(await worker.scrape());
        return [...expected].every(([key, count]) => samples.get(key) === count);
      },
      20_000,
      200,
    ).catch(async (error: Error) => {
      const lines = (await worker.scrape()).split('\n').filter((l) => l.startsWith('warren_jobs_processed_total'));
      throw new Error(`${error.message}\n${lines.join('\n')}`);
    });
    const samples = metricSamples(await worker.scrape());
    expect(samples.get('warren_dead_letters_total{job_type="email.send",reason="non_retryable"}')).toBe(2);
    expect(samples.get('warren_dead_letters_total{job_type="email.send",reason="invalid_payload"}')).toBe(1);
  }, 180_000); // about 30 one-shot `warren publish` processes
});
