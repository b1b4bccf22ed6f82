import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './broker.js';
import { ROOT } from './cli.js';

/** Files of the observability stack, relative to the repository root. */
export const FILES = {
  compose: 'docker-compose.yml',
  prometheusConfig: 'docker/prometheus/prometheus.yml',
  alerts: 'docker/prometheus/alerts.yml',
  alertTests: 'docker/prometheus/alerts.test.yml',
  datasources: 'docker/grafana/provisioning/datasources/prometheus.yml',
  dashboardProvider: 'docker/grafana/provisioning/dashboards/warren.yml',
  dashboard: 'docker/grafana/dashboards/warren.json',
  metricsDoc: 'docs/metrics.md',
} as const;

/** RabbitMQ's rabbitmq_prometheus plugin on the test broker. */
export const RABBITMQ_METRICS = process.env['WARREN_TEST_RABBITMQ_METRICS'] ?? 'http://127.0.0.1:15692';

/** An absolute path under the repository root. */
export function repoPath(relative: string): string {
  return join(ROOT, relative);
}

/**
 * The path of an executable on PATH. Throws (never skips) when it is missing: these tests are the only check of
 * the Prometheus side, and `.ci/run` installs what they need.
 */
export function requireBinary(name: 'promtool' | 'prometheus' | 'python3'): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  const install =
    name === 'python3'
      ? 'install python3 and python3-yaml (apt-get install python3-yaml); it parses the YAML files under test'
      : "install Debian's prometheus package (apt-get install prometheus), which provides prometheus and promtool; .ci/run does this";
  throw new Error(`${name} is not installed (not found on PATH): ${install}`);
}

/** The result of a finished command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (time-bounded), optionally with stdin; never throws on a non-zero exit. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        cwd: options.cwd ?? ROOT,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')} failed to run: ${error.message}\n${stderr}`));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
    // A command that exits without reading its input (sh -n, promtool check config) closes the pipe first; its
    // exit code, reported above, is what counts, so a write error on stdin is not one.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs `promtool …args` (with stdin when given). */
export function promtool(args: readonly string[], input?: string): Promise<CommandResult> {
  return runCommand(requireBinary('promtool'), args, input === undefined ? {} : { input });
}

const parsedYaml = new Map<string, Promise<unknown>>();

/**
 * Parses a YAML file of the repository (python3's yaml: no YAML parser is a dependency of warren). Anchors and
 * merge keys resolve. Parsed once per test file; callers must not mutate the result.
 */
export function loadYaml(relative: string): Promise<unknown> {
  let parsed = parsedYaml.get(relative);
  if (!parsed) {
    parsed = parseYaml(relative);
    parsedYaml.set(relative, parsed);
    parsed.catch(() => parsedYaml.delete(relative));
  }
  return parsed;
}

async function parseYaml(relative: string): Promise<unknown> {
  const script = 'import json, sys, yaml\njson.dump(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sys.stdout)';
  const result = await runCommand(requireBinary('python3'), ['-c', script, repoPath(relative)]);
  if (result.code !== 0) {
    if (/No module named '?yaml/.test(result.stderr)) {
      throw new Error('python3 has no yaml module: install python3-yaml (apt-get install python3-yaml)');
    }
    throw new Error(`${relative} is not valid YAML:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as unknown;
}

/** Reads a JSON file of the repository. */
export function loadJson(relative: string): unknown {
  return JSON.parse(readFileSync(repoPath(relative), 'utf8')) as unknown;
}

// PromQL words that look like metric names: aggregation operators, keywords and set operators.
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);

/**
 * The metric names a PromQL expression selects: identifiers followed by `{` or `[`, or used bare; not functions,
 * keywords, label names (in matchers and in by/without/on/ignoring/group_* lists), strings, durations or numbers.
 * Grafana's `label_values(metric, label)` yields its metric.
 */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  let text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/#[^\n]*/g, '')
    .replace(/\blabel_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)/g, ' $1 ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[0-9a-z]+/g, ' ')
    .replace(/@\s*(?:[0-9.]+|start\(\)|end\(\))/g, ' ');
  text = text.replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g, ' ');
  for (const match of text.matchAll(/(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*)|[a-zA-Z_:][a-zA-Z0-9_:]*/gi)) {
    const token = match[0];
    if (/^\d/.test(token) || PROMQL_WORDS.has(token.toLowerCase())) continue;
    const rest = text.slice((match.index ?? 0) + token.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    names.add(token);
  }
  return [...names];
}

/** Metric families in a Prometheus text exposition (`# TYPE` and `# HELP` lines): name → type. */
export function metricFamilies(text: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (type?.[1] && type[2]) families.set(type[1], type[2]);
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) /.exec(line);
    if (help?.[1] && !families.has(help[1])) families.set(help[1], 'untyped');
  }
  return families;
}

/** Samples in a Prometheus text exposition: `name{labels}` → value. */
export function metricSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** Whether `name` is a family of `families`, or a `_bucket`/`_sum`/`_count` series of a histogram or summary. */
export function hasMetric(families: ReadonlyMap<string, string>, name: string): boolean {
  if (families.has(name)) return true;
  const suffix = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!suffix?.[1] || !suffix[2]) return false;
  const type = families.get(suffix[1]);
  return type === 'histogram' || (type === 'summary' && suffix[2] !== 'bucket');
}

/** A panel of a Grafana dashboard (only what the tests read). */
export interface DashboardPanel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string } | string | null;
  readonly gridPos?: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly targets?: ReadonlyArray<{
    readonly refId?: string;
    readonly expr?: string;
    readonly datasource?: { readonly uid?: string };
  }>;
  readonly panels?: readonly DashboardPanel[];
}

/** A Grafana dashboard (only what the tests read). */
export interface Dashboard {
  readonly uid?: string;
  readonly title?: string;
  readonly schemaVersion?: number;
  readonly panels?: readonly DashboardPanel[];
  readonly templating?: {
    readonly list?: ReadonlyArray<{
      readonly name?: string;
      readonly type?: string;
      readonly query?: unknown;
      readonly definition?: string;
      readonly datasource?: { readonly uid?: string };
    }>;
  };
}

/** Every panel, rows' collapsed panels included. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  const out: DashboardPanel[] = [];
  const walk = (panels: readonly DashboardPanel[] | undefined): void => {
    for (const panel of panels ?? []) {
      out.push(panel);
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/** Every PromQL expression of a dashboard, with where it is: panel targets and query variables. */
export function dashboardExpressions(dashboard: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (typeof target.expr === 'string')
        out.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query =
      typeof variable.query === 'string' ? variable.query : (variable.query as { query?: string } | undefined)?.query;
    if (query) out.push({ where: `variable $${variable.name}`, expr: query });
  }
  return out;
}

/** A dashboard expression with its Grafana variables replaced, as Prometheus would receive it. */
export function withGrafanaVariables(expr: string, values: { namespace: string; rateInterval?: string }): string {
  return expr
    .replaceAll('$__rate_interval', values.rateInterval ?? '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '15m')
    .replaceAll('$namespace', values.namespace)
    .replaceAll('$job_type', '.*');
}

/** The rules of a Prometheus rules file. */
export interface RuleGroups {
  readonly groups: ReadonlyArray<{
    readonly name: string;
    readonly rules: ReadonlyArray<{
      readonly alert?: string;
      readonly record?: string;
      readonly expr: string;
      readonly for?: string;
    }>;
  }>;
}

/** Every alerting rule expression of a rules file. */
export function alertExpressions(rules: RuleGroups): Array<{ where: string; expr: string }> {
  return rules.groups.flatMap((group) =>
    group.rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr })),
  );
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** GETs a URL (time-bounded) and returns its body; throws on a non-2xx status. */
export async function fetchText(url: string, timeoutMs = 10_000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${body.slice(0, 300)}`);
  return body;
}

/** One series of an instant query. */
export interface QuerySample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A Prometheus server of a test's own: a temporary config and storage, 127.0.0.1 only. */
export interface TestPrometheus {
  readonly url: string;
  /** Instant query; throws when Prometheus reports an error (a PromQL syntax error, say). */
  query(expr: string): Promise<QuerySample[]>;
  /** Active scrape targets: job, scrape URL, health. */
  targets(): Promise<Array<{ job: string; scrapeUrl: string; health: string; lastError: string }>>;
  /** Active alerts (pending or firing). */
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string }>>;
  /** Its log so far, for failure messages. */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL) and deletes its files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `prometheus` with the given configuration object (written as JSON, which is YAML) and rule
 * files (name → text, written beside the config). Resolves once `/-/ready` answers.
 */
export async function startPrometheus(
  config: Record<string, unknown>,
  ruleFiles: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<TestPrometheus> {
  const binary = requireBinary('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'warren-prometheus-'));
  for (const [name, text] of Object.entries(ruleFiles)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    JSON.stringify({ ...config, rule_files: Object.keys(ruleFiles) }, null, 2),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  const api = async <T>(path: string): Promise<T> => {
    const body = JSON.parse(await fetchText(`${url}${path}`)) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? body.status}`);
    return body.data;
  };
  try {
    await waitFor(
      `prometheus on ${url} to be ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
        return fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
          (r) => r.ok,
          () => false,
        );
      },
      timeoutMs,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { status: string; data?: { result: QuerySample[] }; error?: string };
      if (body.status !== 'success' || !body.data)
        throw new Error(`query failed: ${expr}\n${body.error ?? response.status}`);
      return body.data.result;
    },
    async targets() {
      const data = await api<{
        activeTargets: Array<{ labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }>;
      }>('/api/v1/targets?state=active');
      return data.activeTargets.map((t) => ({
        job: t.labels['job'] ?? '',
        scrapeUrl: t.scrapeUrl,
        health: t.health,
        lastError: t.lastError,
      }));
    },
    async alerts() {
      const data = await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('/api/v1/alerts');
      return data.alerts;
    },
    log: () => output,
    stop,
  };
}
