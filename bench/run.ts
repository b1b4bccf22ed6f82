/**
 * `npm run bench`: warren against raw amqplib (the floor for a Node worker on this broker) and BullMQ, scenario by
 * scenario, each trial in a child process of its own, systems alternating back to back (A B C A B C …). Prints a
 * table, the targets with PASS/FAIL, writes bench/results/latest.md, and ends with the end-to-end ratio line.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTrial } from './build.js';
import { parseArgs } from './lib/args.js';
import { loadAverageText, machineInfo, type MachineInfo } from './lib/machine.js';
import { max, median, min } from './lib/stats.js';
import { fixed, int, renderMarkdown, renderText, type Section } from './lib/table.js';
import { SCENARIOS, type Scenario, type TrialResult } from './lib/trial-types.js';
import { cleanupTrial } from './systems/create-system.js';
import { SYSTEM_NAMES, type SystemName } from './systems/system.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_OUT = resolve(ROOT, 'bench/results/latest.md');
const PROFILE_DIR = resolve(ROOT, 'bench/results/profiles');
const DEFAULT_SCENARIOS = ['e2e', 'deployed', 'publish', 'consume', 'latency', 'retry'] as const;
/**
 * Whether the default run includes the 60 s soak (one 65 s trial per system, ~3.3 minutes): it does, since with
 * it the default run takes about 13–14 minutes on 2 cores (longer while other work loads the machine).
 */
const DEFAULT_SOAK = true;

const HELP = `Usage: npm run bench -- [options]

Benchmarks warren against raw amqplib and BullMQ on the local RabbitMQ and Redis. Every trial runs in its own
process; systems alternate back to back for --pairs rounds (the order rotating each round); medians and min–max
are reported.
Quorum queues, persistent messages, publisher confirms, a ~200-byte JSON payload, a no-op handler.

Scenarios (--scenarios, comma-separated; default ${DEFAULT_SCENARIOS.join(',')}):
  e2e       N jobs published and handled in one process, first publish → last ack, at each --prefetch
  deployed  as deployed: the worker in one process, the publisher in another; first publish → last ack at each
            --prefetch, CPU per job of each process; then warren alone at --consume-prefetch with each feature
            on in turn (metrics, a tracer provider, 3 middleware, all three) against none: what each costs
  publish   publish-only: N jobs, --window publishes awaited concurrently (warren publish vs raw confirms vs Queue.add)
  consume   consume-only from a queue pre-filled with N jobs; consumer CPU µs/job from process.cpuUsage()
  latency   publish → handler start (p50/p99/max) at --rate jobs/s for --seconds s; RSS idle before the load
  retry     N jobs that fail once and succeed after a 1 s retry tier
  cluster   warren alone: e2e at --consume-prefetch and latency on a private 3-node RabbitMQ cluster against a
            private single node (needs the private-node helpers of the chaos tests; not in the default run)
  soak      latency held for --soak-seconds, one round: is RSS flat? (--no-soak skips it)

Options:
  --jobs N              jobs per throughput trial (e2e, publish, consume)          default 20000
  --retry-jobs N        jobs per retry trial                                         default jobs / 4
  --prefetch LIST       concurrency values for e2e and deployed (warren's job concurrency, its prefetch
                        twice that, the setting for short jobs; BullMQ's concurrency; raw amqplib's prefetch twice it)
                                                                                     default 10,50,200
  --consume-prefetch N  prefetch for consume, latency, retry, soak                  default 50
  --window N            publishes in flight in the publishing loops                 default 100
  --rate N              jobs/s for latency and soak                                  default 2000
  --seconds N           measured seconds of the latency trial                       default 10
  --pairs N             rounds of back-to-back trials per scenario (at least 3 for the report)  default 3
  --systems LIST        ${SYSTEM_NAMES.join(',')}                                      default all
  --scenarios LIST      see above
  --soak, --no-soak     the 60 s RSS soak (one round; ~3.3 minutes)                  default on
  --soak-seconds N      length of the soak                                           default 60
  --metrics             run warren with metrics on an injected prom-client registry
  --middleware N        run warren with N pass-through middleware around the handler (what a chain costs)  default 0
  --tracing             register an OpenTelemetry tracer provider in every trial (spans made and dropped)
  --profile             write a .cpuprofile per trial to bench/results/profiles (summarise with bench/profile.ts)
  --pause-ms N          pause between trials                                         default 300
  --out FILE            Markdown report                                              default bench/results/latest.md
  --amqp-url URL        default $BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672
  --redis-url URL       default $BENCH_REDIS_URL or redis://127.0.0.1:6379
  --scale               run the scale scenarios instead (dead letters at depth, publish concurrency, job types per
                        worker, schedules per scheduler; --scale-scenarios LIST picks some) and write
                        bench/results/scale.md;
                        npm run bench -- --scale --help lists their options
  --help

Every trial uses its own namespace / queue names / key prefix and deletes them afterwards; nothing else on the
broker or in Redis is touched. One trial by hand (after a run, or \`npx tsx bench/build.ts\`):
  node bench/.build/trial.mjs --system warren --scenario e2e --prefetch 50 --jobs 20000`;

const SPEC = {
  jobs: 'number',
  'retry-jobs': 'number',
  prefetch: 'list',
  'consume-prefetch': 'number',
  window: 'number',
  rate: 'number',
  seconds: 'number',
  pairs: 'number',
  systems: 'list',
  scenarios: 'list',
  soak: 'boolean',
  'soak-seconds': 'number',
  metrics: 'boolean',
  middleware: 'number',
  tracing: 'boolean',
  profile: 'boolean',
  'pause-ms': 'number',
  out: 'string',
  'amqp-url': 'string',
  'redis-url': 'string',
  help: 'boolean',
} as const;

/** The settings of a run (exported for the cluster scenario, bench/cluster.ts). */
export interface Settings {
  readonly jobs: number;
  readonly retryJobs: number;
  readonly prefetches: readonly number[];
  readonly consumePrefetch: number;
  readonly window: number;
  readonly rate: number;
  readonly seconds: number;
  readonly pairs: number;
  readonly systems: readonly SystemName[];
  readonly scenarios: readonly Scenario[];
  readonly soakSeconds: number;
  readonly metrics: boolean;
  readonly middleware: number;
  readonly tracing: boolean;
  readonly profile: boolean;
  readonly pauseMs: number;
  readonly out: string;
  readonly amqpUrl: string;
  readonly redisUrl: string;
  /** Run the cluster scenario (bench/cluster.ts) too. */
  readonly cluster: boolean;
}

/** One scenario at one setting: its trials run for every system, `rounds` times. */
export interface Group {
  readonly key: string;
  readonly scenario: Scenario;
  readonly prefetch: number;
  readonly rounds: number;
  readonly args: readonly string[];
  readonly timeoutSeconds: number;
  /**
   * warren alone, once per variant each round (the order rotating), each with its own options instead of the run's
   * --metrics / --middleware / --tracing; their results are keyed `<key>:<variant>`.
   */
  readonly variants?: readonly Variant[];
}

/** One way of running warren in a variant group. */
export interface Variant {
  readonly name: string;
  readonly label: string;
  readonly args: readonly string[];
}

/** The deployed shape's feature variants: each feature on alone, then all of them. */
const FEATURE_VARIANTS: readonly Variant[] = [
  { name: 'none', label: 'no metrics, no tracing, no middleware', args: [] },
  { name: 'metrics', label: 'metrics (prom-client registry)', args: ['--metrics'] },
  { name: 'tracing', label: 'tracer provider registered', args: ['--tracing'] },
  { name: 'middleware', label: '3 pass-through middleware', args: ['--middleware', '3'] },
  { name: 'all', label: 'all three', args: ['--metrics', '--tracing', '--middleware', '3'] },
];

export interface Run {
  readonly group: Group;
  readonly system: SystemName;
  readonly round: number;
  readonly result: TrialResult | undefined;
  readonly error: string | undefined;
  readonly wallSeconds: number;
}

function settingsFrom(argv: readonly string[]): Settings | undefined {
  const args = parseArgs(argv, SPEC);
  if (args['help']) return undefined;
  const num = (name: string, fallback: number): number => Math.round((args[name] as number | undefined) ?? fallback);
  const jobs = num('jobs', 20_000);
  const systems = ((args['systems'] as string[] | undefined) ?? [...SYSTEM_NAMES]).map((name) => {
    if (!(SYSTEM_NAMES as readonly string[]).includes(name))
      throw new Error(`--systems: unknown system ${JSON.stringify(name)}; known: ${SYSTEM_NAMES.join(', ')}`);
    return name as SystemName;
  });
  const listed = (args['scenarios'] as string[] | undefined) ?? [...DEFAULT_SCENARIOS];
  const cluster = listed.includes('cluster');
  const scenarios = listed
    .filter((name) => name !== 'cluster')
    .map((name) => {
      if (!(SCENARIOS as readonly string[]).includes(name))
        throw new Error(
          `--scenarios: unknown scenario ${JSON.stringify(name)}; known: ${[...SCENARIOS, 'cluster'].join(', ')}`,
        );
      return name as Scenario;
    });
  // The soak is part of the default run (DEFAULT_SOAK); with an explicit --scenarios list only when listed or --soak.
  const soak =
    (args['soak'] as boolean | undefined) ??
    (args['scenarios'] === undefined ? DEFAULT_SOAK : scenarios.includes('soak'));
  if (soak && !scenarios.includes('soak')) scenarios.push('soak');
  if (!soak && scenarios.includes('soak')) scenarios.splice(scenarios.indexOf('soak'), 1);
  const prefetches = ((args['prefetch'] as string[] | undefined) ?? ['10', '50', '200']).map((text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > 65_535)
      throw new Error(`--prefetch: ${JSON.stringify(text)} is not a whole number 1-65535`);
    return value;
  });
  return {
    jobs,
    retryJobs: num('retry-jobs', Math.max(1, Math.round(jobs / 4))),
    prefetches,
    consumePrefetch: num('consume-prefetch', 50),
    window: num('window', 100),
    rate: num('rate', 2_000),
    seconds: num('seconds', 10),
    pairs: num('pairs', 3),
    systems,
    scenarios,
    soakSeconds: num('soak-seconds', 60),
    metrics: args['metrics'] === true,
    middleware: Math.round((args['middleware'] as number | undefined) ?? 0),
    tracing: args['tracing'] === true,
    profile: args['profile'] === true,
    pauseMs: (args['pause-ms'] as number | undefined) ?? 300,
    out: resolve((args['out'] as string | undefined) ?? DEFAULT_OUT),
    amqpUrl:
      (args['amqp-url'] as string | undefined) ?? process.env['BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: (args['redis-url'] as string | undefined) ?? process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    cluster,
  };
}

function plan(s: Settings): Group[] {
  const groups: Group[] = [];
  const throughputTimeout = Math.max(120, Math.ceil(s.jobs / 100));
  for (const scenario of s.scenarios) {
    switch (scenario) {
      case 'e2e':
        for (const prefetch of s.prefetches) {
          groups.push({
            key: `e2e@${prefetch}`,
            scenario,
            prefetch,
            rounds: s.pairs,
            args: ['--jobs', String(s.jobs), '--window', String(s.window)],
            timeoutSeconds: throughputTimeout,
          });
        }
        break;
      case 'deployed':
        for (const prefetch of s.prefetches) {
          groups.push({
            key: `deployed@${prefetch}`,
            scenario,
            prefetch,
            rounds: s.pairs,
            args: ['--jobs', String(s.jobs), '--window', String(s.window)],
            timeoutSeconds: throughputTimeout,
          });
        }
        if (s.systems.includes('warren'))
          groups.push({
            key: 'features',
            scenario,
            prefetch: s.consumePrefetch,
            rounds: s.pairs,
            args: ['--jobs', String(s.jobs), '--window', String(s.window)],
            timeoutSeconds: throughputTimeout,
            variants: FEATURE_VARIANTS,
          });
        break;
      case 'publish':
      case 'consume':
        groups.push({
          key: scenario,
          scenario,
          prefetch: s.consumePrefetch,
          rounds: s.pairs,
          args: ['--jobs', String(s.jobs), '--window', String(s.window)],
          timeoutSeconds: throughputTimeout,
        });
        break;
      case 'retry':
        groups.push({
          key: scenario,
          scenario,
          prefetch: s.consumePrefetch,
          rounds: s.pairs,
          args: ['--jobs', String(s.retryJobs), '--window', String(s.window)],
          timeoutSeconds: Math.max(120, Math.ceil(s.retryJobs / 50)),
        });
        break;
      case 'latency':
        groups.push({
          key: scenario,
          scenario,
          prefetch: s.consumePrefetch,
          rounds: s.pairs,
          args: ['--rate', String(s.rate), '--seconds', String(s.seconds)],
          timeoutSeconds: s.seconds + 120,
        });
        break;
      case 'soak':
        groups.push({
          key: scenario,
          scenario,
          prefetch: s.consumePrefetch,
          rounds: 1,
          args: ['--rate', String(s.rate), '--seconds', String(s.soakSeconds)],
          timeoutSeconds: s.soakSeconds + 120,
        });
        break;
    }
  }
  return groups;
}

let current: ReturnType<typeof spawn> | undefined;

/** Runs one trial in a child process and parses its JSON line; cleans up after it when it failed. */
async function runTrial(bundle: string, s: Settings, group: Group, system: SystemName, round: number): Promise<Run> {
  const id = `bench-${group.scenario}-${randomUUID().slice(0, 8)}`;
  const nodeArgs: string[] = [];
  const profileName = `${system}-${group.key.replace('@', '-p')}-r${round}`;
  // The soak reads the heap after a full collection at its start and end. Its young generation starts at its full
  // size (16 MB semi-spaces, the default maximum on 64-bit): V8 otherwise doubles it (8 → 16 → 32 MB) once, some
  // time in the first minute under load, and that one step, no leak, read as RSS growth in some runs (+16 MB) and
  // not in others (+1 MB), for every system alike.
  if (group.scenario === 'soak') nodeArgs.push('--expose-gc', '--min-semi-space-size=16');
  if (s.profile) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    nodeArgs.push(
      '--cpu-prof',
      '--cpu-prof-interval=100',
      `--cpu-prof-dir=${PROFILE_DIR}`,
      `--cpu-prof-name=${profileName}.cpuprofile`,
    );
  }
  const args = [
    ...nodeArgs,
    bundle,
    '--system',
    system,
    '--scenario',
    group.scenario,
    '--prefetch',
    String(group.prefetch),
    '--id',
    id,
    '--timeout-seconds',
    String(group.timeoutSeconds),
    '--amqp-url',
    s.amqpUrl,
    '--redis-url',
    s.redisUrl,
    ...group.args,
    ...(group.variants ? [] : featureArgs(s)),
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  current = child;
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), (group.timeoutSeconds + 90) * 1000);
  const code = await new Promise<number | null>((done) => child.on('close', (exitCode) => done(exitCode)));
  clearTimeout(killer);
  current = undefined;
  const wallSeconds = (performance.now() - started) / 1000;
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let parsed: { ok?: boolean; error?: string } | undefined;
  try {
    parsed = JSON.parse(line) as { ok?: boolean; error?: string };
  } catch {
    parsed = undefined;
  }
  if (code === 0 && parsed?.ok === true) {
    // Beside the profile: its measured window, which bench/profile.ts restricts the summary to.
    if (s.profile) writeFileSync(resolve(PROFILE_DIR, `${profileName}.json`), `${line}\n`);
    return { group, system, round, result: parsed as TrialResult, error: undefined, wallSeconds };
  }
  const error =
    parsed?.error ?? `exit ${String(code)}: ${stderr.trim().split('\n').slice(-3).join(' / ') || 'no output'}`;
  const target = {
    id,
    prefetch: group.prefetch,
    retryDelayMs: 1_000,
    amqpUrl: s.amqpUrl,
    redisUrl: s.redisUrl,
    metrics: false,
    middleware: 0,
  };
  await cleanupTrial(system, target).catch((err: unknown) => log(`  cleanup of ${id} failed: ${String(err)}`));
  return { group, system, round, result: undefined, error, wallSeconds };
}

/** The run's --metrics / --middleware / --tracing, as trial options. */
function featureArgs(s: Settings): string[] {
  return [
    ...(s.metrics ? ['--metrics'] : []),
    ...(s.middleware > 0 ? ['--middleware', String(s.middleware)] : []),
    ...(s.tracing ? ['--tracing'] : []),
  ];
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function describeRun(run: Run): string {
  if (!run.result) return `FAILED: ${run.error ?? 'unknown error'}`;
  const r = run.result;
  if (r.latency)
    return `p50 ${r.latency.p50Ms.toFixed(2)} ms, p99 ${r.latency.p99Ms.toFixed(2)} ms, RSS idle ${(r.rssIdleMb ?? 0).toFixed(1)} MB`;
  if (r.publisher)
    return `${int(r.jobsPerSec)} jobs/s, ${r.cpuUsPerJob.toFixed(1)} µs CPU/job (worker), ${r.publisher.cpuUsPerJob.toFixed(1)} (publisher)`;
  return `${int(r.jobsPerSec)} jobs/s, ${r.cpuUsPerJob.toFixed(1)} µs CPU/job`;
}

// ---------------------------------------------------------------------------------------------------------------
// Report

class Results {
  readonly #runs: readonly Run[];
  constructor(runs: readonly Run[]) {
    this.#runs = runs;
  }

  values(key: string, system: SystemName, pick: (result: TrialResult) => number | undefined): number[] {
    return this.#runs
      .filter((run) => run.group.key === key && run.system === system && run.result)
      .map((run) => pick(run.result as TrialResult))
      .filter((value): value is number => value !== undefined && Number.isFinite(value));
  }

  median(key: string, system: SystemName, pick: (result: TrialResult) => number | undefined): number {
    return median(this.values(key, system, pick));
  }

  has(key: string, system: SystemName): boolean {
    return this.#runs.some((run) => run.group.key === key && run.system === system);
  }

  failures(key: string, system: SystemName): number {
    return this.#runs.filter((run) => run.group.key === key && run.system === system && !run.result).length;
  }

  /** `median (min–max)`, or the single value, or why there is none. */
  cell(
    key: string,
    system: SystemName,
    pick: (result: TrialResult) => number | undefined,
    format: (value: number) => string,
  ): string {
    if (!this.has(key, system)) return '—';
    const values = this.values(key, system, pick);
    const failed = this.failures(key, system);
    if (values.length === 0) return failed > 0 ? 'failed' : 'n/a';
    const text =
      values.length === 1
        ? format(values[0] as number)
        : `${format(median(values))} (${format(min(values))}–${format(max(values))})`;
    return failed > 0 ? `${text} [${failed} failed]` : text;
  }
}

const ratio = (a: number, b: number): number =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
const times = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');

interface TargetCheck {
  readonly name: string;
  readonly expected: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
}

function sections(results: Results, s: Settings): Section[] {
  const systems = s.systems;
  const out: Section[] = [];
  const ratioColumns = (['amqplib', 'bullmq'] as const).filter(
    (other) => systems.includes('warren') && systems.includes(other),
  );
  const ratioCells = (key: string, pick: (r: TrialResult) => number | undefined): string[] =>
    ratioColumns.map((other) => times(ratio(results.median(key, 'warren', pick), results.median(key, other, pick))));
  const header = (first: string, suffix: string): string[] => [
    first,
    ...systems,
    ...ratioColumns.map((other) => (suffix ? `warren/${other} ${suffix}` : `warren/${other}`)),
  ];
  const jobsPerSec = (r: TrialResult): number => r.jobsPerSec;
  const cpu = (r: TrialResult): number => r.cpuUsPerJob;
  const rounds = `median (min–max) of ${s.pairs}`;

  if (s.scenarios.includes('e2e')) {
    out.push({
      title: 'End-to-end throughput, jobs/s',
      note: `${int(s.jobs)} jobs published (window ${s.window}) and handled in one process, first publish → last ack; ${rounds}`,
      columns: header('concurrency', '(median)'),
      rows: s.prefetches.map((prefetch) => [
        String(prefetch),
        ...systems.map((system) => results.cell(`e2e@${prefetch}`, system, jobsPerSec, int)),
        ...ratioCells(`e2e@${prefetch}`, jobsPerSec),
      ]),
    });
  }
  if (s.scenarios.includes('deployed')) {
    const publisherCpu = (r: TrialResult): number | undefined => r.publisher?.cpuUsPerJob;
    out.push({
      title: 'Deployed shape: publisher and worker in separate processes',
      note: `${int(s.jobs)} jobs published (window ${s.window}) by one process and handled by another, the publisher's first publish → the worker's last ack; CPU = process.cpuUsage() of each process over its part; ${rounds}`,
      columns: header('concurrency', '(median)'),
      rows: s.prefetches.flatMap((prefetch) => {
        const key = `deployed@${prefetch}`;
        return [
          [
            `${prefetch}: jobs/s`,
            ...systems.map((system) => results.cell(key, system, jobsPerSec, int)),
            ...ratioCells(key, jobsPerSec),
          ],
          [
            `${prefetch}: worker CPU µs/job`,
            ...systems.map((system) => results.cell(key, system, cpu, fixed(1))),
            ...ratioCells(key, cpu),
          ],
          [
            `${prefetch}: publisher CPU µs/job`,
            ...systems.map((system) => results.cell(key, system, publisherCpu, fixed(1))),
            ...ratioCells(key, publisherCpu),
          ],
        ];
      }),
    });
    if (systems.includes('warren')) {
      const plain = (pick: (r: TrialResult) => number | undefined): number =>
        results.median('features:none', 'warren', pick);
      out.push({
        title: 'What each feature costs (deployed shape, warren)',
        note: `as above at prefetch ${s.consumePrefetch}, warren alone, the variants back to back each round (order rotating); × = against no feature; ${rounds}`,
        columns: ['', 'jobs/s', 'worker CPU µs/job', 'publisher CPU µs/job', 'worker ×', 'publisher ×'],
        rows: FEATURE_VARIANTS.map((variant) => {
          const key = `features:${variant.name}`;
          return [
            variant.label,
            results.cell(key, 'warren', jobsPerSec, int),
            results.cell(key, 'warren', cpu, fixed(1)),
            results.cell(key, 'warren', publisherCpu, fixed(1)),
            times(ratio(results.median(key, 'warren', cpu), plain(cpu))),
            times(ratio(results.median(key, 'warren', publisherCpu), plain(publisherCpu))),
          ];
        }),
      });
    }
  }
  const single = (
    scenario: string,
    title: string,
    note: string,
    rows: Array<[string, (r: TrialResult) => number | undefined, (v: number) => string]>,
  ): void => {
    if (!s.scenarios.includes(scenario as Scenario)) return;
    out.push({
      title,
      note,
      columns: header('', '(median)'),
      rows: rows.map(([label, pick, format]) => [
        label,
        ...systems.map((system) => results.cell(scenario, system, pick, format)),
        ...ratioCells(scenario, pick),
      ]),
    });
  };
  single(
    'publish',
    'Publish-only throughput',
    `${int(s.jobs)} jobs, ${s.window} publishes awaited concurrently (warren publish / raw confirm channel / BullMQ Queue.add); ${rounds}`,
    [
      ['jobs/s', jobsPerSec, int],
      ['CPU µs/job (publishing process)', cpu, fixed(1)],
    ],
  );
  single(
    'consume',
    'Consume-only throughput and consumer CPU',
    `${int(s.jobs)} jobs pre-filled, prefetch ${s.consumePrefetch}, first handler start → last ack; CPU = process.cpuUsage() of the consuming process; ${rounds}`,
    [
      ['jobs/s', jobsPerSec, int],
      ['CPU µs/job (consumer)', cpu, fixed(1)],
      ['RSS peak, MB', (r) => r.rssPeakMb, fixed(1)],
    ],
  );
  single(
    'retry',
    'Retry path throughput',
    `${int(s.retryJobs)} jobs that fail once and succeed after a 1 s tier (warren retry: { tiers: [1000] } / TTL queue dead-lettering back / BullMQ attempts 2, fixed backoff 1 s), prefetch ${s.consumePrefetch}, first publish → last success; ${rounds}`,
    [
      ['jobs/s', jobsPerSec, int],
      ['CPU µs/job (both attempts)', cpu, fixed(1)],
    ],
  );
  if (s.scenarios.includes('latency')) {
    const p50 = (r: TrialResult): number | undefined => r.latency?.p50Ms;
    const p99 = (r: TrialResult): number | undefined => r.latency?.p99Ms;
    const worst = (r: TrialResult): number | undefined => r.latency?.maxMs;
    const rate = (r: TrialResult): number | undefined => r.latency?.achievedRate;
    const diff = (pick: (r: TrialResult) => number | undefined): string[] =>
      ratioColumns.map((other) => {
        const d = results.median('latency', 'warren', pick) - results.median('latency', other, pick);
        return Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${d.toFixed(2)} ms` : 'n/a';
      });
    out.push({
      title: 'Latency, publish → handler start, ms',
      note: `${int(s.rate)} jobs/s for ${s.seconds} s after a 1 s warm-up, prefetch ${s.consumePrefetch}; send time in the payload (performance.timeOrigin + now); ${rounds}`,
      columns: [...header('', ''), ...ratioColumns.map((other) => `warren − ${other}`)],
      rows: [
        [
          'p50',
          ...systems.map((system) => results.cell('latency', system, p50, fixed(2))),
          ...ratioCells('latency', p50),
          ...diff(p50),
        ],
        [
          'p99',
          ...systems.map((system) => results.cell('latency', system, p99, fixed(2))),
          ...ratioCells('latency', p99),
          ...diff(p99),
        ],
        [
          'max',
          ...systems.map((system) => results.cell('latency', system, worst, fixed(2))),
          ...ratioCells('latency', worst),
          ...diff(worst),
        ],
        [
          'achieved jobs/s',
          ...systems.map((system) => results.cell('latency', system, rate, int)),
          ...ratioColumns.map(() => ''),
          ...ratioColumns.map(() => ''),
        ],
      ],
    });
  }
  const memoryRows: string[][] = [];
  const memoryRow = (label: string, key: string, pick: (r: TrialResult) => number | undefined): void => {
    if (!systems.some((system) => results.has(key, system))) return;
    memoryRows.push([
      label,
      ...systems.map((system) => results.cell(key, system, pick, fixed(1))),
      ...ratioColumns.map((other) => {
        const d = results.median(key, 'warren', pick) - results.median(key, other, pick);
        return Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${d.toFixed(1)}` : 'n/a';
      }),
    ]);
  };
  memoryRow('RSS idle (consumer started, no load)', 'latency', (r) => r.rssIdleMb);
  memoryRow(`RSS peak at ${int(s.rate)} jobs/s`, 'latency', (r) => r.rssPeakMb);
  memoryRow(`RSS peak, e2e prefetch 50`, 'e2e@50', (r) => r.rssPeakMb);
  memoryRow('RSS peak, consume-only', 'consume', (r) => r.rssPeakMb);
  memoryRow(`soak RSS idle`, 'soak', (r) => r.rssIdleMb);
  memoryRow(`soak RSS, first 5 s of steady load`, 'soak', (r) => r.soak?.firstMb);
  memoryRow(`soak RSS, last 5 s`, 'soak', (r) => r.soak?.lastMb);
  memoryRow(`soak RSS growth (last − first)`, 'soak', (r) => r.soak?.growthMb);
  memoryRow(`soak RSS slope, MB/min (least squares)`, 'soak', (r) => r.soak?.slopeMbPerMin);
  memoryRow(`soak heap retained after full GC, growth`, 'soak', (r) => r.soak?.retainedGrowthMb);
  if (memoryRows.length > 0) {
    out.push({
      title: 'Memory, MB',
      note: `RSS of the trial process (${rounds}; soak: one ${s.soakSeconds} s run at ${int(s.rate)} jobs/s, steady part from 10 s in)`,
      columns: ['', ...systems, ...ratioColumns.map((other) => `warren − ${other}`)],
      rows: memoryRows,
    });
  }
  if (s.scenarios.includes('e2e') || s.scenarios.includes('latency')) {
    const rows: string[][] = [];
    for (const prefetch of s.prefetches) {
      if (!s.scenarios.includes('e2e')) break;
      rows.push([
        `e2e, prefetch ${prefetch} (publisher + consumer)`,
        ...systems.map((system) => results.cell(`e2e@${prefetch}`, system, cpu, fixed(1))),
        ...ratioCells(`e2e@${prefetch}`, cpu),
      ]);
    }
    if (s.scenarios.includes('latency')) {
      rows.push([
        `latency run at ${int(s.rate)} jobs/s`,
        ...systems.map((system) => results.cell('latency', system, cpu, fixed(1))),
        ...ratioCells('latency', cpu),
      ]);
    }
    out.push({
      title: 'CPU per job, µs (process.cpuUsage of the trial process)',
      note: rounds,
      columns: header('', '(median)'),
      rows,
    });
  }
  return out;
}

function targets(results: Results, s: Settings): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const has = (system: SystemName): boolean => s.systems.includes(system);
  const jobsPerSec = (r: TrialResult): number => r.jobsPerSec;
  const atLeast = (
    name: string,
    key: string,
    factor: number,
    other: SystemName,
    pick: (r: TrialResult) => number | undefined,
    unit: string,
  ): void => {
    if (!has('warren') || !has(other) || !results.has(key, 'warren')) return;
    const w = results.median(key, 'warren', pick);
    const o = results.median(key, other, pick);
    const r = ratio(w, o);
    checks.push({
      name,
      expected: `≥ ${factor.toFixed(2)}× ${other}`,
      measured: `${times(r)} (${int(w)} vs ${int(o)} ${unit})`,
      pass: Number.isFinite(r) ? r >= factor : undefined,
    });
  };
  for (const prefetch of [50, 200]) {
    if (s.prefetches.includes(prefetch) && s.scenarios.includes('e2e')) {
      atLeast(`end-to-end throughput, prefetch ${prefetch}`, `e2e@${prefetch}`, 0.9, 'amqplib', jobsPerSec, 'jobs/s');
    }
  }
  if (s.scenarios.includes('publish')) atLeast('publish throughput', 'publish', 0.9, 'amqplib', jobsPerSec, 'jobs/s');
  const atMost = (
    name: string,
    [key, system]: readonly [string, SystemName],
    factor: number,
    [baseKey, baseSystem]: readonly [string, SystemName],
    pick: (r: TrialResult) => number | undefined,
    baseName: string,
  ): void => {
    if (!has(system) || !has(baseSystem) || !results.has(key, system) || !results.has(baseKey, baseSystem)) return;
    const w = results.median(key, system, pick);
    const b = results.median(baseKey, baseSystem, pick);
    const r = ratio(w, b);
    checks.push({
      name,
      expected: `≤ ${factor.toFixed(2)}× ${baseName}`,
      measured: `${times(r)} (${w.toFixed(1)} vs ${b.toFixed(1)} µs)`,
      pass: Number.isFinite(r) ? r <= factor : undefined,
    });
  };
  const cpuPerJob = (r: TrialResult): number => r.cpuUsPerJob;
  const publisherCpu = (r: TrialResult): number | undefined => r.publisher?.cpuUsPerJob;
  if (s.scenarios.includes('publish'))
    atMost(
      'publisher CPU per job, publish-only',
      ['publish', 'warren'],
      1.2,
      ['publish', 'amqplib'],
      cpuPerJob,
      'amqplib',
    );
  if (s.scenarios.includes('deployed')) {
    const at = `deployed@${s.prefetches.includes(50) ? 50 : s.prefetches[0]}`;
    atMost(
      `publisher CPU per job, ${at.replace('@', ' at prefetch ')}`,
      [at, 'warren'],
      1.2,
      [at, 'amqplib'],
      publisherCpu,
      'amqplib',
    );
    atMost(
      'worker CPU per job with metrics on (deployed)',
      ['features:metrics', 'warren'],
      1.1,
      ['features:none', 'warren'],
      cpuPerJob,
      'metrics off',
    );
  }
  if (s.scenarios.includes('retry'))
    atMost('CPU per job on the retry path', ['retry', 'warren'], 1.25, ['retry', 'amqplib'], cpuPerJob, 'amqplib');
  if (s.scenarios.includes('consume') && has('warren') && has('amqplib')) {
    const w = results.median('consume', 'warren', (r) => r.cpuUsPerJob);
    const a = results.median('consume', 'amqplib', (r) => r.cpuUsPerJob);
    const r = ratio(w, a);
    checks.push({
      name: 'consumer CPU per job',
      expected: '≤ 1.30× amqplib',
      measured: `${times(r)} (${w.toFixed(1)} vs ${a.toFixed(1)} µs)`,
      pass: Number.isFinite(r) ? r <= 1.3 : undefined,
    });
  }
  if (s.scenarios.includes('latency') && has('warren') && has('amqplib')) {
    const w50 = results.median('latency', 'warren', (r) => r.latency?.p50Ms);
    const a50 = results.median('latency', 'amqplib', (r) => r.latency?.p50Ms);
    checks.push({
      name: 'latency p50',
      expected: '≤ amqplib + 0.5 ms',
      measured: `${w50.toFixed(2)} vs ${a50.toFixed(2)} ms (${w50 - a50 >= 0 ? '+' : ''}${(w50 - a50).toFixed(2)} ms)`,
      pass: Number.isFinite(w50 - a50) ? w50 <= a50 + 0.5 : undefined,
    });
    const w99 = results.median('latency', 'warren', (r) => r.latency?.p99Ms);
    const a99 = results.median('latency', 'amqplib', (r) => r.latency?.p99Ms);
    checks.push({
      name: 'latency p99',
      expected: '≤ 1.50× amqplib',
      measured: `${times(ratio(w99, a99))} (${w99.toFixed(2)} vs ${a99.toFixed(2)} ms)`,
      pass: Number.isFinite(ratio(w99, a99)) ? w99 <= 1.5 * a99 : undefined,
    });
    const wIdle = results.median('latency', 'warren', (r) => r.rssIdleMb);
    const aIdle = results.median('latency', 'amqplib', (r) => r.rssIdleMb);
    checks.push({
      name: 'RSS idle',
      expected: '≤ amqplib + 20 MB',
      measured: `${wIdle.toFixed(1)} vs ${aIdle.toFixed(1)} MB (${wIdle - aIdle >= 0 ? '+' : ''}${(wIdle - aIdle).toFixed(1)} MB)`,
      pass: Number.isFinite(wIdle - aIdle) ? wIdle <= aIdle + 20 : undefined,
    });
  }
  if (has('warren')) {
    const growth = results.values('soak', 'warren', (r) => r.soak?.growthMb);
    const first = results.values('soak', 'warren', (r) => r.soak?.firstMb);
    const slopes = results.values('soak', 'warren', (r) => r.soak?.slopeMbPerMin);
    const g = median(growth);
    const limit = Math.max(5, 0.05 * median(first));
    const signed = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
    const baseline = has('amqplib') ? results.values('soak', 'amqplib', (r) => r.soak?.growthMb) : [];
    const retained = results.values('soak', 'warren', (r) => r.soak?.retainedGrowthMb);
    checks.push({
      name: `RSS flat under sustained load (${s.soakSeconds} s soak)`,
      expected: `growth ≤ ${Number.isFinite(limit) ? limit.toFixed(1) : '5'} MB (max of 5 MB, 5 %)`,
      measured:
        growth.length === 0
          ? 'not run (add --soak)'
          : `${signed(g)} MB, slope ${median(slopes).toFixed(1)} MB/min${baseline.length > 0 ? ` (amqplib ${signed(median(baseline))} MB)` : ''}${retained.length > 0 ? `; heap retained after GC ${signed(median(retained))} MB` : ''}`,
      pass: growth.length === 0 ? undefined : g <= limit,
    });
  }
  for (const [scenario, shape] of [
    ['e2e', 'end-to-end'],
    ['deployed', 'deployed'],
  ] as const) {
    if (!s.scenarios.includes(scenario) || !has('warren') || !has('bullmq')) continue;
    for (const prefetch of s.prefetches) {
      const w = results.median(`${scenario}@${prefetch}`, 'warren', jobsPerSec);
      const b = results.median(`${scenario}@${prefetch}`, 'bullmq', jobsPerSec);
      checks.push({
        name: `ahead of BullMQ ${shape}, concurrency ${prefetch}`,
        expected: '> 1.00× bullmq',
        measured: `${times(ratio(w, b))} (${int(w)} vs ${int(b)} jobs/s)`,
        pass: Number.isFinite(ratio(w, b)) ? w > b : undefined,
      });
    }
  }
  return checks;
}

function targetsSection(checks: readonly TargetCheck[]): Section {
  return {
    title: 'Targets (warren against the baseline; medians)',
    columns: ['target', 'expected', 'measured', 'result'],
    align: ['l', 'l', 'l', 'l'],
    rows: checks.map((check) => [
      check.name,
      check.expected,
      check.measured,
      check.pass === undefined ? 'n/a' : check.pass ? 'PASS' : 'FAIL',
    ]),
  };
}

function finalLine(results: Results): string {
  const w = results.median('e2e@50', 'warren', (r) => r.jobsPerSec);
  const a = results.median('e2e@50', 'amqplib', (r) => r.jobsPerSec);
  const r = ratio(w, a);
  return `warren/amqplib end-to-end throughput ratio: ${Number.isFinite(r) ? r.toFixed(2) : 'n/a'} (warren ${int(w)} jobs/s, amqplib ${int(a)} jobs/s, prefetch 50)`;
}

function markdown(
  machine: MachineInfo,
  s: Settings,
  runs: readonly Run[],
  body: readonly Section[],
  checks: Section,
  runtime: string,
  endLoad: string,
  last: string,
): string {
  const packageList = Object.entries(machine.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  const lines = [
    '# warren benchmark',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${machine.date}. Regenerate it rather than editing it.`,
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpuModel}, ${machine.cores} cores; RAM ${machine.ramGiB.toFixed(1)} GiB`,
    `- Node ${machine.node}; RabbitMQ ${machine.rabbitmq} (${machine.erlang}); Redis ${machine.redis} (${machine.redisPersistence})`,
    `- Packages: ${packageList}`,
    `- warren source: commit ${machine.commit}`,
    `- Load average (1/5/15 min) at start: ${machine.loadAverage}; at end: ${endLoad}`,
    '',
    '## Settings',
    '',
    `- Quorum queues, persistent messages, publisher confirms, ~200-byte JSON payload, no-op handler.`,
    `- jobs ${int(s.jobs)} (retry ${int(s.retryJobs)}), e2e prefetch ${s.prefetches.join(', ')}, publish window ${s.window}, consume/latency/retry prefetch ${s.consumePrefetch}, latency ${int(s.rate)} jobs/s × ${s.seconds} s, soak ${s.scenarios.includes('soak') ? `${s.soakSeconds} s` : 'not run'}, ${s.pairs} rounds (systems back to back, ${s.systems.join(' → ')} rotating one place each round), warren metrics ${s.metrics ? 'on' : 'off'}, ${s.middleware} middleware, tracing ${s.tracing ? 'on' : 'off'}.`,
    `- Every trial is a fresh \`node\` process running the bundled bench (bench/.build/trial.mjs), with its own queues / key prefix, deleted afterwards.`,
    `- Total runtime: ${runtime}.`,
    '',
    '## Results',
    '',
    ...body.flatMap((section) => [renderMarkdown(section), '']),
    renderMarkdown(checks),
    '',
    '## Every trial',
    '',
    '| scenario | system | round | jobs/s | CPU µs/job | RSS idle MB | RSS peak MB | p50 ms | p99 ms | max ms | wall s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...runs.map((run) => {
      const r = run.result;
      if (!r)
        return `| ${run.group.key} | ${run.system} | ${run.round} | failed: ${(run.error ?? '').replaceAll('|', '\\|')} | | | | | | | ${run.wallSeconds.toFixed(1)} |`;
      const f = (value: number | undefined, digits: number): string =>
        value === undefined ? '' : value.toFixed(digits);
      return `| ${run.group.key} | ${run.system} | ${run.round} | ${int(r.jobsPerSec)} | ${f(r.cpuUsPerJob, 1)} | ${f(r.rssIdleMb, 1)} | ${f(r.rssPeakMb, 1)} | ${f(r.latency?.p50Ms, 2)} | ${f(r.latency?.p99Ms, 2)} | ${f(r.latency?.maxMs, 2)} | ${run.wallSeconds.toFixed(1)} |`;
    }),
    '',
    last,
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--scale')) {
    // The scale scenarios have a runner and options of their own.
    const { runScale } = await import('./scale/run-scale.js');
    await runScale(process.argv.slice(2));
    return;
  }
  const s = settingsFrom(process.argv.slice(2));
  if (!s) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const started = performance.now();
  const bundle = await buildTrial();
  const machine = await machineInfo(s.amqpUrl, s.redisUrl);
  if (machine.rabbitmq.startsWith('unreachable')) throw new Error(`RabbitMQ at ${s.amqpUrl} is ${machine.rabbitmq}`);
  if (s.systems.includes('bullmq') && machine.redis.startsWith('unreachable'))
    throw new Error(`Redis at ${s.redisUrl} is ${machine.redis}`);
  log(
    `warren bench: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, RabbitMQ ${machine.rabbitmq}, Redis ${machine.redis}; load ${machine.loadAverage}`,
  );

  const groups = plan(s);
  const total = groups.reduce(
    (sum, group) => sum + group.rounds * (group.variants ? group.variants.length : s.systems.length),
    0,
  );
  const runs: Run[] = [];
  const progress = (run: Run, label: string): void => {
    runs.push(run);
    log(
      `[${String(runs.length).padStart(String(total).length)}/${total}] ${run.group.key.padEnd(8)} round ${run.round} ${label.padEnd(7)} ${describeRun(run)} (${run.wallSeconds.toFixed(1)} s)`,
    );
  };
  for (const group of groups) {
    const variants = group.variants;
    if (variants) {
      for (let round = 1; round <= group.rounds; round += 1) {
        const order = variants.map((_, i) => variants[(i + round - 1) % variants.length] as Variant);
        for (const variant of order) {
          const one: Group = { ...group, key: `${group.key}:${variant.name}`, args: [...group.args, ...variant.args] };
          progress(await runTrial(bundle, s, one, 'warren', round), `warren ${variant.name}`);
          if (s.pauseMs > 0) await new Promise((done) => setTimeout(done, s.pauseMs));
        }
      }
      continue;
    }
    for (let round = 1; round <= group.rounds; round += 1) {
      // Rotate who goes first each round (W A B, A B W, B W A): no system always follows the same neighbour.
      const order = s.systems.map((_, i) => s.systems[(i + round - 1) % s.systems.length] as SystemName);
      for (const system of order) {
        progress(await runTrial(bundle, s, group, system, round), system);
        if (s.pauseMs > 0) await new Promise((done) => setTimeout(done, s.pauseMs));
      }
    }
  }

  let clusterRuns: Run[] = [];
  let clusterSection: Section | undefined;
  if (s.cluster) {
    // Loaded only here: it starts private RabbitMQ nodes with the test helpers.
    const { runClusterScenario } = await import('./cluster.js');
    const cluster = await runClusterScenario(
      s,
      (site, group, round) => runTrial(bundle, site, group, 'warren', round),
      log,
    );
    // Its trials are reported apart: they must not mix with the single-broker medians.
    clusterRuns = cluster.runs.map((run) => ({
      ...run,
      group: { ...run.group, key: `cluster ${(run as Run & { site: string }).site} ${run.group.key}` },
    }));
    clusterSection = cluster.section;
  }

  const elapsed = (performance.now() - started) / 1000;
  const minutes = (seconds: number): string => `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  const soakSeconds = runs
    .filter((run) => run.group.scenario === 'soak')
    .reduce((sum, run) => sum + run.wallSeconds + s.pauseMs / 1000, 0);
  const runtime =
    soakSeconds > 0 ? `${minutes(elapsed)} (${minutes(elapsed - soakSeconds)} without the soak)` : minutes(elapsed);
  const endLoad = loadAverageText();
  const results = new Results(runs);
  const body = [...sections(results, s), ...(clusterSection ? [clusterSection] : [])];
  const checks = targetsSection(targets(results, s));
  const last = finalLine(results);
  mkdirSync(dirname(s.out), { recursive: true });
  writeFileSync(s.out, markdown(machine, s, [...runs, ...clusterRuns], body, checks, runtime, endLoad, last));

  const text = [
    `warren bench — ${machine.date}`,
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB.toFixed(1)} GiB; Node ${machine.node}; RabbitMQ ${machine.rabbitmq}; Redis ${machine.redis}; load ${machine.loadAverage} → ${endLoad}`,
    '',
    ...body.flatMap((section) => [renderText(section), '']),
    renderText(checks),
    '',
    `runtime ${runtime}; report written to ${relative(process.cwd(), s.out) || s.out}${s.profile ? `; profiles in ${relative(process.cwd(), PROFILE_DIR)}` : ''}`,
    last,
  ];
  process.stdout.write(`${text.join('\n')}\n`);
}

process.on('SIGINT', () => {
  current?.kill('SIGKILL');
  process.exit(130);
});

await main();
