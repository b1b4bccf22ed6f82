/**
 * One trial of one system in one scenario, in a process of its own (so CPU and RSS belong to that system alone).
 * Prints exactly one JSON line on stdout: the result, or `{ "ok": false, "error": ... }` with exit code 1.
 * The runner starts it from the bundle (bench/build.ts); it also runs from source, with the tsx loader in the process:
 *
 *   node bench/.build/trial.mjs --system warren --scenario e2e --prefetch 50 --jobs 20000
 *   node --import tsx bench/trial.ts --system warren --scenario e2e --prefetch 50 --jobs 20000
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from './lib/args.js';
import { Countdown, MB, RssSampler, cpuMicros, publishPaced, publishWindowed, sleep } from './lib/measure.js';
import { nowMs, type BenchPayload } from './lib/payload.js';
import { median, quantileSorted, slope } from './lib/stats.js';
import {
  SCENARIOS,
  type PublisherResult,
  type Scenario,
  type TrialFailure,
  type TrialResult,
} from './lib/trial-types.js';
import { createSystem } from './systems/create-system.js';
import { SYSTEM_NAMES, type BenchSystem, type SystemName, type TrialTarget } from './systems/system.js';

const HELP = `Usage: node bench/.build/trial.mjs --system <${SYSTEM_NAMES.join('|')}> --scenario <${SCENARIOS.join('|')}> [options]
       (from source: node --import tsx bench/trial.ts …, which adds the TypeScript loader to the measured process)

Runs one trial and prints one JSON line. Normally started by bench/run.ts; run it by hand to profile one system:
  node --cpu-prof --cpu-prof-interval=100 --cpu-prof-dir=bench/results/profiles bench/.build/trial.mjs --system warren --scenario e2e --prefetch 50

Options:
  --prefetch N          concurrency: warren's job concurrency (prefetch twice it), BullMQ's concurrency,
                        raw amqplib's prefetch twice it                             default 50
  --jobs N              jobs for e2e, publish, consume, retry                       default 20000
  --window N            publishes awaited concurrently (bounded concurrency)       default 100
  --rate N              jobs/s for latency and soak                                 default 2000
  --seconds N           measured seconds for latency (soak: 60)                    default 10
  --warmup-seconds N    paced warm-up before the measured latency window           default 1
  --idle-seconds N      settle time before RSS idle is read                        default 2
  --retry-delay-ms N    the retry tier's delay (retry scenario)                    default 1000
  --timeout-seconds N   give up waiting for acks after this                        default 300
  --id NAME             namespace / queue prefix (default bench-<scenario>-<random>); deleted afterwards
  --role publisher      deployed only: be the publishing process of a deployed trial (started by the worker
                        process with its own options; publishes --jobs, prints its CPU, deletes nothing)
  --metrics             warren only: record metrics into a prom-client registry
  --middleware N        warren only: N pass-through middleware around the handler (default 0)
  --tracing             register an OpenTelemetry tracer provider (batching, exporting nowhere), a W3C
                        propagator and a context manager first: what warren's spans cost
  --amqp-url URL        default $BENCH_AMQP_URL or amqp://guest:guest@127.0.0.1:5672
  --redis-url URL       default $BENCH_REDIS_URL or redis://127.0.0.1:6379
  --help`;

const SPEC = {
  system: 'string',
  scenario: 'string',
  prefetch: 'number',
  jobs: 'number',
  window: 'number',
  rate: 'number',
  seconds: 'number',
  'warmup-seconds': 'number',
  'idle-seconds': 'number',
  'retry-delay-ms': 'number',
  'timeout-seconds': 'number',
  id: 'string',
  role: 'string',
  metrics: 'boolean',
  middleware: 'number',
  tracing: 'boolean',
  'amqp-url': 'string',
  'redis-url': 'string',
  help: 'boolean',
} as const;

interface Settings {
  readonly scenario: Scenario;
  readonly jobs: number;
  readonly window: number;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly idleSeconds: number;
  readonly timeoutMs: number;
}

const noop = (): void => {};

/**
 * A measured window as monotonic-clock microseconds (`process.hrtime`), the time base of `--cpu-prof` profiles:
 * bench/profile.ts keeps only the samples inside it.
 */
function window(fromMs: number, toMs: number): readonly [number, number] {
  const offsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  return [Math.round(fromMs * 1000 + offsetUs), Math.round(toMs * 1000 + offsetUs)];
}

async function e2e(system: BenchSystem, s: Settings, rss: RssSampler): Promise<Partial<TrialResult>> {
  const acked = new Countdown(s.jobs);
  await system.startConsumer({ handle: noop, acked: acked.tick });
  await system.startPublisher();
  rss.start(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publishWindowed(system, s.jobs, s.window);
  await acked.wait(s.timeoutMs, 'acked');
  const seconds = (acked.doneAt - t0) / 1000;
  return {
    seconds,
    jobsPerSec: s.jobs / seconds,
    cpuUsPerJob: cpuMicros(cpu0, acked.cpuAtDone as NodeJS.CpuUsage) / s.jobs,
    windowUs: window(t0, acked.doneAt),
  };
}

/**
 * The deployed shape: this process is the worker; a second process of the same bundle (`--role publisher`, the
 * same options) publishes. Throughput runs from the publisher's first publish to the worker's last ack (one wall
 * clock on one machine); each process reports its own CPU per job.
 */
async function deployed(system: BenchSystem, s: Settings, rss: RssSampler, id: string): Promise<Partial<TrialResult>> {
  const acked = new Countdown(s.jobs);
  await system.startConsumer({ handle: noop, acked: acked.tick });
  rss.start(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const publisher = publisherProcess(id, s.timeoutMs);
  const [published] = await Promise.all([publisher, acked.wait(s.timeoutMs, 'acked')]);
  const doneAtWall = performance.timeOrigin + acked.doneAt;
  const seconds = (doneAtWall - published.startedAtMs) / 1000;
  return {
    seconds,
    jobsPerSec: s.jobs / seconds,
    cpuUsPerJob: cpuMicros(cpu0, acked.cpuAtDone as NodeJS.CpuUsage) / s.jobs,
    windowUs: window(t0, acked.doneAt),
    publisher: published,
  };
}

/** Starts this bundle again as the deployed trial's publisher (no profiler flags) and reads its JSON line. */
async function publisherProcess(id: string, timeoutMs: number): Promise<PublisherResult> {
  const args = [process.argv[1] as string, ...process.argv.slice(2), '--id', id, '--role', 'publisher'];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 30_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(killer);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let parsed: Partial<PublisherResult> & { error?: string } = {};
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    // reported below
  }
  if (code !== 0 || parsed.ok !== true)
    throw new Error(
      `the publisher process failed (exit ${String(code)}): ${parsed.error ?? (stderr.trim().split('\n').slice(-3).join(' / ') || 'no output')}`,
    );
  return parsed as PublisherResult;
}

/** The publishing half of a deployed trial. */
async function deployedPublisher(system: BenchSystem, s: Settings, rss: RssSampler): Promise<PublisherResult> {
  await system.startPublisher();
  rss.start(100);
  const cpu0 = process.cpuUsage();
  const startedAtMs = nowMs();
  await publishWindowed(system, s.jobs, s.window);
  const cpu1 = process.cpuUsage();
  const endedAtMs = nowMs();
  rss.sample();
  return {
    ok: true,
    startedAtMs,
    endedAtMs,
    cpuUsPerJob: cpuMicros(cpu0, cpu1) / s.jobs,
    rssPeakMb: rss.peakBytes / MB,
  };
}

async function retry(system: BenchSystem, s: Settings, rss: RssSampler): Promise<Partial<TrialResult>> {
  const succeeded = new Countdown(s.jobs);
  const failOnce = (_payload: BenchPayload, attempt: number): void => {
    if (attempt === 1) throw new Error('fails on the first attempt, succeeds on the retry');
  };
  await system.startConsumer({ handle: failOnce, acked: succeeded.tick });
  await system.startPublisher();
  rss.start(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publishWindowed(system, s.jobs, s.window);
  await succeeded.wait(s.timeoutMs, 'succeeded on retry');
  const seconds = (succeeded.doneAt - t0) / 1000;
  return {
    seconds,
    jobsPerSec: s.jobs / seconds,
    cpuUsPerJob: cpuMicros(cpu0, succeeded.cpuAtDone as NodeJS.CpuUsage) / s.jobs,
    windowUs: window(t0, succeeded.doneAt),
  };
}

async function publishOnly(system: BenchSystem, s: Settings, rss: RssSampler): Promise<Partial<TrialResult>> {
  await system.declare();
  await system.startPublisher();
  rss.start(100);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publishWindowed(system, s.jobs, s.window);
  const t1 = performance.now();
  const seconds = (t1 - t0) / 1000;
  return {
    seconds,
    jobsPerSec: s.jobs / seconds,
    cpuUsPerJob: cpuMicros(cpu0, process.cpuUsage()) / s.jobs,
    windowUs: window(t0, t1),
  };
}

async function consumeOnly(system: BenchSystem, s: Settings, rss: RssSampler): Promise<Partial<TrialResult>> {
  // Pre-fill with the system's own publisher, then close it: the measured process only consumes.
  await system.declare();
  await system.startPublisher();
  await publishWindowed(system, s.jobs, 500);
  await system.stopPublisher();
  const acked = new Countdown(s.jobs);
  let firstAt = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  const handle = (): void => {
    if (cpu0 === undefined) {
      firstAt = performance.now();
      cpu0 = process.cpuUsage();
    }
  };
  rss.start(100);
  await system.startConsumer({ handle, acked: acked.tick });
  await acked.wait(s.timeoutMs, 'acked');
  const seconds = (acked.doneAt - firstAt) / 1000;
  return {
    seconds,
    jobsPerSec: s.jobs / seconds,
    cpuUsPerJob: cpuMicros(cpu0 as NodeJS.CpuUsage, acked.cpuAtDone as NodeJS.CpuUsage) / s.jobs,
    windowUs: window(firstAt, acked.doneAt),
  };
}

/** Latency at a fixed rate, RSS idle before any load, RSS peak under it; with a long run, RSS flatness (soak). */
async function latency(system: BenchSystem, s: Settings, rss: RssSampler): Promise<Partial<TrialResult>> {
  const warmCount = Math.round(s.rate * s.warmupSeconds);
  const measuredCount = Math.round(s.rate * s.seconds);
  const latencies = new Float64Array(measuredCount);
  let recorded = 0;
  const handle = (payload: BenchPayload): void => {
    if (!payload.warm && recorded < measuredCount) {
      latencies[recorded] = nowMs() - payload.sentAt;
      recorded += 1;
    }
  };
  const acked = new Countdown(warmCount + measuredCount);
  await system.startConsumer({ handle, acked: acked.tick });
  await sleep(s.idleSeconds * 1000);
  const idle: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    idle.push(process.memoryUsage.rss());
    await sleep(100);
  }
  await system.startPublisher();
  rss.start(250, true);
  const maxOutstanding = Math.max(1_000, s.rate);
  if (warmCount > 0)
    await publishPaced(system, { rate: s.rate, seconds: s.warmupSeconds, warm: true, firstSeq: 0, maxOutstanding });
  // Soak with --expose-gc: the heap still in use after a full collection, when the measured load starts and at its
  // end. Unlike RSS (which follows V8's heap sizing), it only grows when something is retained: a leak. Collected
  // before the steady part, not at its start: a full collection shrinks the heap, and RSS regrowing from it would
  // read as growth.
  const gc = s.scenario === 'soak' ? (globalThis as { gc?: () => void }).gc : undefined;
  const steadyAfterMs = Math.min(10_000, (s.seconds * 1000) / 3);
  let retainedStart: number | undefined;
  if (gc) {
    gc();
    retainedStart = process.memoryUsage().heapUsed;
  }
  const cpu0 = process.cpuUsage();
  const loadStart = performance.now();
  const paced = await publishPaced(system, {
    rate: s.rate,
    seconds: s.seconds,
    warm: false,
    firstSeq: warmCount,
    maxOutstanding,
  });
  await acked.wait(s.timeoutMs, 'acked');
  let retainedEnd: number | undefined;
  if (gc) {
    gc();
    retainedEnd = process.memoryUsage().heapUsed;
  }
  const seconds = (acked.doneAt - loadStart) / 1000;
  const sorted = latencies.subarray(0, recorded).sort();
  const result: Partial<TrialResult> = {
    seconds,
    jobsPerSec: measuredCount / seconds,
    cpuUsPerJob: cpuMicros(cpu0, acked.cpuAtDone as NodeJS.CpuUsage) / measuredCount,
    windowUs: window(loadStart, acked.doneAt),
    rssIdleMb: median(idle) / MB,
    latency: {
      count: recorded,
      p50Ms: quantileSorted(sorted, 0.5),
      p99Ms: quantileSorted(sorted, 0.99),
      maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
      achievedRate: paced.achievedRate,
    },
  };
  if (s.scenario !== 'soak') return result;
  // The steady part starts 10 s into the load (or a third in, for short runs): heaps grow to their working size first.
  const steadyFrom = loadStart + steadyAfterMs;
  const steady = rss.samples.filter((sample) => sample.atMs >= steadyFrom && sample.atMs <= acked.doneAt);
  const edge = Math.max(1, Math.round(steady.length * (5_000 / Math.max(1, acked.doneAt - steadyFrom))));
  const firstMb = median(steady.slice(0, edge).map((sample) => sample.bytes)) / MB;
  const lastMb = median(steady.slice(-edge).map((sample) => sample.bytes)) / MB;
  const perMin = slope(
    steady.map((sample) => sample.atMs / 60_000),
    steady.map((sample) => sample.bytes / MB),
  );
  const retainedGrowthMb =
    retainedStart !== undefined && retainedEnd !== undefined ? (retainedEnd - retainedStart) / MB : undefined;
  return {
    ...result,
    soak: {
      firstMb,
      lastMb,
      growthMb: lastMb - firstMb,
      slopeMbPerMin: perMin,
      samples: steady.length,
      ...(retainedGrowthMb === undefined ? {} : { retainedGrowthMb }),
    },
  };
}

const RUNNERS: Readonly<
  Record<Scenario, (system: BenchSystem, s: Settings, rss: RssSampler, id: string) => Promise<Partial<TrialResult>>>
> = {
  e2e,
  deployed,
  publish: publishOnly,
  consume: consumeOnly,
  latency,
  soak: latency,
  retry,
};

/**
 * An OpenTelemetry SDK as an application registers it (a batching span processor, the W3C propagator, an
 * AsyncLocalStorage context manager), exporting to nowhere: the spans are made, batched and dropped.
 */
async function registerTracing(): Promise<void> {
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const nowhere = {
    export: (_spans: unknown, done: (result: { code: number }) => void) => done({ code: 0 }),
    shutdown: () => Promise.resolve(),
  };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(nowhere)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), SPEC);
  if (args['help']) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const system = String(args['system'] ?? '') as SystemName;
  const scenario = String(args['scenario'] ?? '') as Scenario;
  if (!SYSTEM_NAMES.includes(system))
    throw new Error(`--system must be one of ${SYSTEM_NAMES.join(', ')}; got ${JSON.stringify(args['system'])}`);
  if (!SCENARIOS.includes(scenario))
    throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}; got ${JSON.stringify(args['scenario'])}`);
  const num = (name: string, fallback: number): number => (args[name] as number | undefined) ?? fallback;
  const settings: Settings = {
    scenario,
    jobs: Math.round(num('jobs', 20_000)),
    window: Math.round(num('window', 100)),
    rate: num('rate', 2_000),
    seconds: num('seconds', scenario === 'soak' ? 60 : 10),
    warmupSeconds: num('warmup-seconds', 1),
    idleSeconds: num('idle-seconds', 2),
    timeoutMs: num('timeout-seconds', 300) * 1000,
  };
  const target: TrialTarget = {
    id: (args['id'] as string | undefined) ?? `bench-${scenario}-${randomUUID().slice(0, 8)}`,
    prefetch: Math.round(num('prefetch', 50)),
    retryDelayMs: scenario === 'retry' ? num('retry-delay-ms', 1_000) : undefined,
    amqpUrl:
      (args['amqp-url'] as string | undefined) ?? process.env['BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: (args['redis-url'] as string | undefined) ?? process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    metrics: args['metrics'] === true,
    middleware: Math.round(num('middleware', 0)),
  };
  if (args['tracing'] === true) await registerTracing();
  if (args['role'] !== undefined) {
    if (args['role'] !== 'publisher' || scenario !== 'deployed')
      throw new Error(`--role: only "publisher", with --scenario deployed; got ${JSON.stringify(args['role'])}`);
    return publisherRole(await createSystem(system, target), settings, target.id);
  }
  const rssStart = process.memoryUsage.rss();
  const sampler = new RssSampler();
  const bench = await createSystem(system, target);
  const hardStop = setTimeout(() => {
    print({
      ok: false,
      system,
      scenario,
      id: target.id,
      error: `trial did not finish within ${settings.timeoutMs / 1000 + 60} s`,
    });
    process.exit(1);
  }, settings.timeoutMs + 60_000);
  hardStop.unref();
  let outcome: TrialResult | TrialFailure;
  try {
    const measured = await RUNNERS[scenario](bench, settings, sampler, target.id);
    sampler.sample();
    outcome = {
      ok: true,
      system,
      scenario,
      id: target.id,
      prefetch: target.prefetch,
      jobs:
        scenario === 'latency' || scenario === 'soak' ? Math.round(settings.rate * settings.seconds) : settings.jobs,
      seconds: 0,
      jobsPerSec: 0,
      cpuUsPerJob: 0,
      ...measured,
      rssStartMb: rssStart / MB,
      rssPeakMb: sampler.peakBytes / MB,
      heapPeakMb: sampler.peakHeapTotalBytes / MB,
      externalPeakMb: sampler.peakExternalBytes / MB,
    };
  } catch (error) {
    outcome = {
      ok: false,
      system,
      scenario,
      id: target.id,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    sampler.stop();
    await bench.close().catch(() => {});
    await bench
      .destroy()
      .catch((error: unknown) => process.stderr.write(`cleanup of ${target.id} failed: ${String(error)}\n`));
  }
  print(outcome);
  return outcome.ok ? 0 : 1;
}

/** `--role publisher`: publishes, prints one line, closes; the worker process deletes the namespace. */
async function publisherRole(bench: BenchSystem, settings: Settings, id: string): Promise<number> {
  const sampler = new RssSampler();
  let line: PublisherResult | { ok: false; error: string; id: string };
  try {
    line = await deployedPublisher(bench, settings, sampler);
  } catch (error) {
    line = { ok: false, id, error: error instanceof Error ? error.message : String(error) };
  } finally {
    sampler.stop();
    await bench.close().catch(() => {});
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
  return line.ok ? 0 : 1;
}

function print(result: TrialResult | TrialFailure): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
