import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FILES,
  alertExpressions,
  allPanels,
  dashboardExpressions,
  loadJson,
  loadYaml,
  metricNames,
  promtool,
  repoPath,
  runCommand,
  withGrafanaVariables,
  type Dashboard,
  type RuleGroups,
} from '../helpers/prometheus.js';

// Static checks of the observability stack: Prometheus config and alert rules (promtool), the Grafana
// provisioning and dashboard, and docker-compose.yml. The live checks are in test/e2e/observability.test.ts.

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string> | string[];
  ports?: string[];
  expose?: string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  healthcheck?: { test?: string[] | string };
  deploy?: { replicas?: number };
  depends_on?: Record<string, unknown> | string[];
}
interface Compose {
  services: Record<string, ComposeService>;
}

const compose = async (): Promise<Compose> => (await loadYaml(FILES.compose)) as Compose;

function service(file: Compose, name: string): ComposeService {
  const found = file.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function environment(svc: ComposeService): Record<string, string> {
  if (Array.isArray(svc.environment)) {
    return Object.fromEntries(
      svc.environment.map((entry) => [entry.split('=')[0] ?? '', entry.split('=').slice(1).join('=')]),
    );
  }
  return svc.environment ?? {};
}

/** Bind mounts of a service: host path (relative to the repository) → container path. */
function bindMounts(svc: ComposeService): Array<{ source: string; target: string }> {
  return (svc.volumes ?? []).flatMap((volume) => {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      return source?.startsWith('.') && target ? [{ source, target }] : [];
    }
    return volume.type === 'bind' && volume.source && volume.target
      ? [{ source: volume.source, target: volume.target }]
      : [];
  });
}

/** Where a container path comes from (relative to the repository, normalised), through the bind mounts of a service. */
function hostPathOf(svc: ComposeService, containerPath: string): string | undefined {
  for (const { source, target } of bindMounts(svc)) {
    if (containerPath === target) return posix.normalize(source);
    if (containerPath.startsWith(`${target}/`)) return posix.join(source, containerPath.slice(target.length + 1));
  }
  return undefined;
}

describe('the metric-name extraction the live tests rely on', () => {
  it('finds selectors, bare names and histogram series, and skips functions, keywords, labels and variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (job_type, le) (rate(warren_job_duration_seconds_bucket{job_type=~"$job_type"}[$__rate_interval])))',
      ),
    ).toEqual(['warren_job_duration_seconds_bucket']);
    expect(
      metricNames('sum(up{job="x"}) / count(warren_connection_up) > 0.5 and on (instance) foo_total offset 10m').sort(),
    ).toEqual(['foo_total', 'up', 'warren_connection_up']);
    expect(
      metricNames('absent(up{job="warren-workers"} == 1) or rabbitmq_x[5m] unless ignoring(queue) group_left(vhost) b'),
    ).toEqual(['up', 'rabbitmq_x', 'b']);
    expect(metricNames('label_values(warren_jobs_processed_total, job_type)')).toEqual(['warren_jobs_processed_total']);
    expect(metricNames('1e3 * max without (instance) (x_seconds) + 5')).toEqual(['x_seconds']);
  });
});

/** The string members of an exported union type or `as const` array in a source file. */
function unionMembers(file: string, type: string, constName?: string): string[] {
  const source = readFileSync(file, 'utf8');
  const union = new RegExp(`export type ${type} =([^;]+);`).exec(source);
  const list = constName ? new RegExp(`export const ${constName} = \\[([^\\]]+)\\] as const;`).exec(source) : null;
  const text = list?.[1] ?? union?.[1];
  if (!text) throw new Error(`${file} exports no type ${type}`);
  return [...text.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
}

describe('label values in the dashboard and the alert rules', () => {
  it('are values warren produces (outcomes, dead-letter reasons)', async () => {
    const known: Record<string, Record<string, string[]>> = {
      warren_jobs_processed_total: { outcome: unionMembers('src/metrics/warren-metrics.ts', 'ProcessOutcome') },
      warren_jobs_published_total: { outcome: unionMembers('src/metrics/warren-metrics.ts', 'PublishOutcome') },
      warren_scheduler_fires_total: {
        outcome: unionMembers('src/scheduler/scheduler.ts', 'FireOutcome', 'FIRE_OUTCOMES'),
      },
      warren_dead_letters_total: {
        reason: unionMembers('src/messages/headers.ts', 'DeadLetterReason', 'DEAD_LETTER_REASONS'),
      },
      warren_connection_up: { purpose: ['publish', 'consume'] },
    };
    const dashboard = loadJson(FILES.dashboard) as Dashboard;
    const rules = (await loadYaml(FILES.alerts)) as RuleGroups;
    let checked = 0;
    for (const { where, expr } of [...dashboardExpressions(dashboard), ...alertExpressions(rules)]) {
      for (const [, metric, matchers] of expr.matchAll(/\b(warren_[a-z_]+)\{([^}]*)\}/g)) {
        for (const [, label, , value] of (matchers ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
          const allowed = known[metric ?? '']?.[label ?? ''];
          if (!allowed) continue;
          for (const item of (value ?? '').split('|')) {
            checked += 1;
            expect(allowed, `${where}: ${metric}{${label}="${item}"}`).toContain(item);
          }
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});

describe('Prometheus configuration and alert rules', () => {
  it('promtool check config passes (and finds the rule file)', async () => {
    const result = await promtool(['check', 'config', FILES.prometheusConfig]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('promtool check rules passes and every alert named in the design exists', async () => {
    const result = await promtool(['check', 'rules', FILES.alerts]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const rules = (await loadYaml(FILES.alerts)) as RuleGroups;
    const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    for (const name of [
      'WarrenJobsDeadLettered',
      'WarrenDeadLetterQueueGrowing',
      'WarrenQueueWithoutConsumers',
      'WarrenRetryRateHigh',
      'WarrenScheduleFireSkipped',
      'WarrenScheduleNotPublished',
      'WarrenTargetDown',
      'WarrenNoWorkers',
      'WarrenBrokerConnectionDown',
    ]) {
      expect(alerts, name).toContain(name);
    }
    for (const group of rules.groups) {
      for (const rule of group.rules)
        expect((rule as { labels?: { severity?: string } }).labels?.severity, rule.alert).toMatch(
          /^(warning|critical)$/,
        );
    }
  });

  it('promtool test rules: every alert fires on its series and stays quiet on the look-alikes', async () => {
    const result = await promtool(['test', 'rules', FILES.alertTests]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS/);
    // Each alert has at least one test in which it fires.
    const tests = (await loadYaml(FILES.alertTests)) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    };
    const fired = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname),
      ),
    );
    const rules = (await loadYaml(FILES.alerts)) as RuleGroups;
    for (const group of rules.groups)
      for (const rule of group.rules) expect([...fired], `a firing test of ${rule.alert}`).toContain(rule.alert);
  });

  it('scrapes the compose services: every worker replica, the scheduler and both RabbitMQ endpoints', async () => {
    const config = (await loadYaml(FILES.prometheusConfig)) as {
      scrape_configs: Array<{
        job_name: string;
        metrics_path?: string;
        params?: Record<string, string[]>;
        static_configs?: Array<{ targets: string[] }>;
        dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
      }>;
    };
    const file = await compose();
    const jobs = new Map(config.scrape_configs.map((job) => [job.job_name, job]));
    const targets = (name: string): string[] => {
      const job = jobs.get(name);
      if (!job) throw new Error(`no scrape job ${name}`);
      return [
        ...(job.static_configs ?? []).flatMap((s) => s.targets),
        ...(job.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
      ];
    };
    expect(targets('warren-workers')).toEqual(['worker:9464']);
    expect(jobs.get('warren-workers')?.dns_sd_configs?.[0]?.type).toBe('A'); // one target per replica
    expect(targets('warren-scheduler')).toEqual(['scheduler:9464']);
    expect(targets('rabbitmq')).toEqual(['rabbitmq:15692']);
    expect(targets('rabbitmq-queues')).toEqual(['rabbitmq:15692']);
    expect(jobs.get('rabbitmq-queues')?.metrics_path).toBe('/metrics/detailed');
    expect(jobs.get('rabbitmq-queues')?.params?.['family']).toEqual(
      expect.arrayContaining(['queue_coarse_metrics', 'queue_consumer_count']),
    );
    for (const name of ['warren-workers', 'warren-scheduler', 'rabbitmq', 'rabbitmq-queues']) {
      for (const target of targets(name)) expect(Object.keys(file.services), target).toContain(target.split(':')[0]);
    }
  });
});

describe('the Grafana provisioning and dashboard', () => {
  it('the dashboard is a provisionable Grafana dashboard whose every query uses the provisioned datasource', async () => {
    const dashboard = loadJson(FILES.dashboard) as Dashboard & Record<string, unknown>;
    const datasources = (await loadYaml(FILES.datasources)) as {
      apiVersion: number;
      datasources: Array<{ name: string; uid: string; type: string; url: string }>;
    };
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    const [datasource] = datasources.datasources;
    expect(datasource).toMatchObject({
      type: 'prometheus',
      uid: expect.stringMatching(/\S/),
      url: 'http://prometheus:9090',
    });

    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toMatch(/\S/);
    expect(typeof dashboard.schemaVersion).toBe('number');
    expect(dashboard['id'] ?? null).toBeNull(); // provisioning assigns the id
    const panels = allPanels(dashboard);
    expect(panels.length).toBeGreaterThan(10);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size, 'unique panel ids').toBe(ids.length);
    for (const panel of panels) {
      expect(panel.type, `type of panel ${panel.id}`).toMatch(/\S/);
      expect(panel.title, `title of panel ${panel.id}`).toMatch(/\S/);
      const grid = panel.gridPos;
      expect(grid, `gridPos of "${panel.title}"`).toBeDefined();
      if (grid) expect(grid.x + grid.w, `"${panel.title}" fits 24 columns`).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(panel.datasource, `datasource of "${panel.title}"`).toMatchObject({
        type: 'prometheus',
        uid: datasource?.uid,
      });
      expect(panel.targets?.length, `targets of "${panel.title}"`).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, `unique refIds in "${panel.title}"`).toBe(refIds.length);
      for (const target of panel.targets ?? []) {
        expect(target.expr, `expr of "${panel.title}" ${target.refId}`).toMatch(/\S/);
        expect(target.datasource?.uid ?? datasource?.uid, `datasource of "${panel.title}" ${target.refId}`).toBe(
          datasource?.uid,
        );
      }
    }
    // Every variable used is defined, and query variables use the provisioned datasource too.
    const variables = dashboard.templating?.list ?? [];
    const defined = new Set(variables.map((v) => v.name));
    for (const { where, expr } of dashboardExpressions(dashboard)) {
      for (const [, name] of expr.matchAll(/\$(?!__)([a-zA-Z_][a-zA-Z0-9_]*)/g))
        expect(defined, `$${name} in ${where}`).toContain(name);
    }
    for (const variable of variables.filter((v) => v.type === 'query'))
      expect(variable.datasource?.uid, `$${variable.name}`).toBe(datasource?.uid);
  });

  it('the dashboard shows what the issue asks for', () => {
    const dashboard = loadJson(FILES.dashboard) as Dashboard;
    const exprs = dashboardExpressions(dashboard).map((e) => e.expr);
    const has = (pattern: RegExp, what: string): void => {
      expect(
        exprs.some((expr) => pattern.test(expr)),
        what,
      ).toBe(true);
    };
    has(/sum by \(outcome\) \(rate\(warren_jobs_processed_total/, 'throughput by outcome');
    has(/histogram_quantile\(0\.5, .*warren_job_duration_seconds_bucket/, 'duration p50');
    has(/histogram_quantile\(0\.99, .*warren_job_duration_seconds_bucket/, 'duration p99');
    has(/histogram_quantile\(0\.95, .*warren_job_wait_seconds_bucket/, 'wait p95');
    has(/rabbitmq_detailed_queue_messages_ready/, 'queue depth from RabbitMQ');
    has(/rabbitmq_detailed_queue_consumers/, 'consumers from RabbitMQ');
    has(/sum by \(tier\) \(rate\(warren_retries_total/, 'retries by tier');
    has(/warren_dead_letters_total/, 'dead letters');
    has(/warren_jobs_in_flight/, 'in flight');
    has(/warren_scheduler_fires_total/, 'scheduler fires');
    has(/warren_connection_up/, 'connection state');
  });

  it('every dashboard query is valid PromQL (promtool, as recording rules)', async () => {
    const dashboard = loadJson(FILES.dashboard) as Dashboard;
    const exprs = dashboardExpressions(dashboard).filter((e) => !e.expr.startsWith('label_values('));
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((e, i) => ({
            record: `dashboard:query:${i}`,
            expr: withGrafanaVariables(e.expr, { namespace: 'warren' }),
          })),
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), 'warren-dashboard-rules-'));
    tempDirs.push(dir);
    const file = join(dir, 'dashboard-rules.json');
    writeFileSync(file, JSON.stringify(rules));
    const result = await promtool(['check', 'rules', file]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('the dashboard provider, the compose mounts and the home-dashboard path agree', async () => {
    const provider = (await loadYaml(FILES.dashboardProvider)) as {
      apiVersion: number;
      providers: Array<{ type: string; options: { path: string } }>;
    };
    const file = await compose();
    const grafana = service(file, 'grafana');
    expect(provider.apiVersion).toBe(1);
    const path = provider.providers[0]?.options.path ?? '';
    expect(provider.providers[0]?.type).toBe('file');
    expect(hostPathOf(grafana, path), `${path} is mounted from the repository`).toBe('docker/grafana/dashboards');
    expect(hostPathOf(grafana, '/etc/grafana/provisioning/datasources/prometheus.yml')).toBe(FILES.datasources);
    expect(hostPathOf(grafana, '/etc/grafana/provisioning/dashboards/warren.yml')).toBe(FILES.dashboardProvider);
    const env = environment(grafana);
    const home = env['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'] ?? '';
    expect(home.startsWith(`${path}/`), home).toBe(true);
    expect(hostPathOf(grafana, home)).toBe(FILES.dashboard);
    expect(env['GF_AUTH_ANONYMOUS_ENABLED']).toBe('true');
    expect(env['GF_AUTH_ANONYMOUS_ORG_ROLE']).toBe('Viewer');
  });
});

describe('docker-compose.yml', () => {
  it('parses, and every file it mounts or builds from exists', async () => {
    const file = await compose();
    expect(Object.keys(file.services).sort()).toEqual(
      expect.arrayContaining(['demo-publisher', 'grafana', 'prometheus', 'rabbitmq', 'redis', 'scheduler', 'worker']),
    );
    const dockerfiles = new Set<string>();
    for (const [name, svc] of Object.entries(file.services)) {
      for (const { source } of bindMounts(svc))
        expect(existsSync(repoPath(source)), `${name} mounts ${source}`).toBe(true);
      if (svc.build !== undefined) {
        const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
        const context = repoPath(build.context ?? '.');
        expect(statSync(context).isDirectory(), `${name} build context`).toBe(true);
        const dockerfile = join(context, build.dockerfile ?? 'Dockerfile');
        expect(existsSync(dockerfile), `${name} Dockerfile ${dockerfile}`).toBe(true);
        dockerfiles.add(dockerfile);
      } else {
        expect(svc.image, `${name} has an image or a build`).toMatch(/\S/);
      }
    }
    // What the Dockerfile copies from the build context exists too.
    expect(dockerfiles.size).toBeGreaterThan(0);
    for (const dockerfile of dockerfiles) {
      for (const line of readFileSync(dockerfile, 'utf8').split('\n')) {
        const copy = /^\s*(?:COPY|ADD)\s+(?!--from)(?:--\S+\s+)*(.+)$/i.exec(line);
        if (!copy?.[1]) continue;
        const parts = copy[1].trim().split(/\s+/);
        for (const source of parts.slice(0, -1))
          expect(existsSync(repoPath(source)), `${dockerfile}: ${line.trim()}`).toBe(true);
      }
    }
  });

  it('runs RabbitMQ with the management UI, the Prometheus plugin and a healthcheck', async () => {
    const rabbitmq = service(await compose(), 'rabbitmq');
    // Published on a host port that defaults to the same number ("${WARREN_RABBITMQ_MANAGEMENT_PORT:-15672}:15672").
    expect(rabbitmq.ports).toEqual(
      expect.arrayContaining([expect.stringMatching(/\b15672\}?:15672$/), expect.stringMatching(/\b15692\}?:15692$/)]),
    );
    expect(rabbitmq.healthcheck?.test).toBeDefined();
    expect(rabbitmq.image).toMatch(/^rabbitmq:[\d.]+-management/);
    const plugins = readFileSync(repoPath('docker/rabbitmq/enabled_plugins'), 'utf8');
    expect(plugins).toMatch(/\[.*rabbitmq_management.*\]\.\s*$/s);
    expect(plugins).toMatch(/rabbitmq_prometheus/);
    expect(readFileSync(repoPath('docker/rabbitmq/rabbitmq.conf'), 'utf8')).toMatch(/^prometheus\.tcp\.port = 15692$/m);
    expect(hostPathOf(rabbitmq, '/etc/rabbitmq/enabled_plugins')).toBe('docker/rabbitmq/enabled_plugins');
  });

  it('runs two workers, the scheduler and a demo publisher against the compose broker and Redis', async () => {
    const file = await compose();
    const worker = service(file, 'worker');
    expect(worker.deploy?.replicas).toBe(2);
    expect(worker.command).toEqual(['start']);
    expect(service(file, 'scheduler').command).toEqual(['scheduler']);
    expect(existsSync(repoPath('config/schedules.json')), 'the scheduler needs schedules').toBe(true);
    for (const name of ['worker', 'scheduler', 'demo-publisher']) {
      const env = environment(service(file, name));
      expect(env['WARREN_AMQP_URL'], `${name} WARREN_AMQP_URL`).toMatch(/@rabbitmq:5672\b/);
      expect(env['WARREN_REDIS_URL'], `${name} WARREN_REDIS_URL`).toBe('redis://redis:6379');
      expect(env['WARREN_HTTP_PORT'] ?? '9464', `${name} serves /metrics where Prometheus looks`).toBe('9464');
    }
    const prometheus = service(file, 'prometheus');
    expect(hostPathOf(prometheus, '/etc/prometheus/prometheus.yml')).toBe(FILES.prometheusConfig);
    // rule_files are relative to the config file: alerts.yml must sit beside it in the container.
    expect(hostPathOf(prometheus, posix.join('/etc/prometheus', 'alerts.yml'))).toBe(FILES.alerts);
    expect(dirname(FILES.alerts)).toBe(dirname(FILES.prometheusConfig));
  });

  it('has no stray $ in any value (compose interpolates it) and a demo script that is valid shell publishing every kind of job', async () => {
    const file = await compose();
    const strings = (value: unknown, path: string): Array<{ path: string; text: string }> => {
      if (typeof value === 'string') return [{ path, text: value }];
      if (Array.isArray(value)) return value.flatMap((item, i) => strings(item, `${path}[${i}]`));
      if (value && typeof value === 'object')
        return Object.entries(value).flatMap(([key, item]) => strings(item, `${path}.${key}`));
      return [];
    };
    const values = strings(file, 'compose');
    expect(values.length).toBeGreaterThan(20);
    for (const { path, text } of values) {
      // `$$` is a literal `$`; `${VAR}`, `${VAR:-default}` are meant for interpolation. Anything else is a mistake.
      const stray = text.replaceAll('$$', '').match(/\$(?!\{[A-Z_][A-Z0-9_]*(?::?[-?][^}]*)?\})/);
      expect(stray, `${path}: ${text.slice(0, 200)}`).toBeNull();
    }
    const demo = service(file, 'demo-publisher');
    expect(demo.entrypoint).toEqual(['/bin/sh', '-c']);
    const script = (Array.isArray(demo.command) ? demo.command.join('\n') : (demo.command ?? '')).replaceAll('$$', '$');
    const syntax = await runCommand('/bin/sh', ['-n', '-c', script]);
    expect(syntax.code, syntax.stderr).toBe(0);
    expect(script).toMatch(/bin\/warren\.js publish/);
    expect(script, 'a success').toMatch(/"template\\":\\"welcome/);
    expect(script, 'a non-retryable failure (unknown template)').toMatch(/no-such-template/);
    expect(script, 'an invalid payload').toMatch(/not-an-address/);
  });
});
