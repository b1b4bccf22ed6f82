import { loadAverageText } from '../../lib/machine.js';
import { median, slope } from '../../lib/stats.js';
import { fixed, int, type Section } from '../../lib/table.js';
import { JOB_TYPE } from '../../lib/payload.js';
import type { Check, ScaleContext, ScenarioReport } from '../context.js';
import { newNamespace } from '../namespace.js';
import type { SoakSample, SoakTrialResult } from '../scale-types.js';

/**
 * What soaks: warren (the target) and, for comparison, the raw amqplib pair at the same rate, each as it is, with
 * glibc held to two malloc arenas (`MALLOC_ARENA_MAX=2`), or with V8's young generation fixed (`semi1`: its
 * semi-spaces held at 1 MB; `semi16`: started at 16 MB, where they otherwise grow to under load).
 */
export const SOAK_VARIANTS = [
  'warren',
  'amqplib',
  'warren-arena2',
  'amqplib-arena2',
  'warren-semi1',
  'warren-semi16',
] as const;
export type SoakVariant = (typeof SOAK_VARIANTS)[number];

/** RSS growth over the steady part allowed, in MB (as the main bench's soak: 5 MB). */
const RSS_GROWTH_LIMIT_MB = 5;
/** Growth of the heap in use after a full collection, start → end, allowed, in MB. */
const RETAINED_LIMIT_MB = 1;
/** Seconds at each end of the steady part whose samples' median is its first and last value. */
const EDGE_SECONDS = 30;

/** The settings of the scenario. */
export interface SoakSettings {
  readonly variants: readonly SoakVariant[];
  /** Seconds of paced load, jobs per second, and seconds between samples. */
  readonly seconds: number;
  readonly rate: number;
  readonly sampleSeconds: number;
}

/** How a variant runs: its system, `node` flags and environment. */
function variantRun(variant: SoakVariant): {
  system: 'warren' | 'amqplib';
  nodeArgs: string[];
  env: Record<string, string> | undefined;
} {
  const system = variant.startsWith('amqplib') ? 'amqplib' : 'warren';
  const nodeArgs = ['--expose-gc'];
  if (variant.endsWith('-semi1')) nodeArgs.push('--max-semi-space-size=1');
  if (variant.endsWith('-semi16')) nodeArgs.push('--min-semi-space-size=16');
  return { system, nodeArgs, env: variant.endsWith('-arena2') ? { MALLOC_ARENA_MAX: '2' } : undefined };
}

/** The warm-up left out of the steady part: a minute, or a quarter of a short soak. */
export function warmupSeconds(seconds: number): number {
  return Math.min(60, seconds / 4);
}

/** One measured part of the process's memory, in MB, from a sample. */
type Part = readonly [label: string, pick: (s: SoakSample) => number];

const PARTS: readonly Part[] = [
  ['RSS', (s) => s.rssMb],
  ['  anonymous (V8 heap, malloc)', (s) => s.rssAnonMb],
  ['  file-backed (node binary, libraries)', (s) => s.rssFileMb],
  ['V8 heapTotal', (s) => s.heapTotalMb],
  ['  of it: new space (young generation)', (s) => s.newSpaceMb],
  ['V8 heapUsed', (s) => s.heapUsedMb],
  ['external (Buffers, native objects)', (s) => s.externalMb],
  ['  of it: arrayBuffers', (s) => s.arrayBuffersMb],
  ['RSS − heapTotal − external (native: allocator, code, stacks)', (s) => s.rssMb - s.heapTotalMb - s.externalMb],
];

/** A part over the steady part: first and last (medians of each end), growth, least-squares slopes. */
interface Trend {
  readonly first: number;
  readonly last: number;
  readonly growth: number;
  /** MB/min over the whole steady part, and over its second half. */
  readonly slope: number;
  readonly slopeLate: number;
}

function trend(steady: readonly SoakSample[], pick: (s: SoakSample) => number, sampleSeconds: number): Trend {
  const edge = Math.max(1, Math.round(EDGE_SECONDS / sampleSeconds));
  const first = median(steady.slice(0, edge).map(pick));
  const last = median(steady.slice(-edge).map(pick));
  const fit = (part: readonly SoakSample[]): number =>
    slope(
      part.map((s) => s.atS / 60),
      part.map(pick),
    );
  return { first, last, growth: last - first, slope: fit(steady), slopeLate: fit(steady.slice(steady.length / 2)) };
}

/** What one variant's run came to. */
interface VariantRun {
  readonly variant: SoakVariant;
  readonly result: SoakTrialResult;
  readonly steady: readonly SoakSample[];
  readonly fromS: number;
  readonly toS: number;
}

const signed = (value: number, digits = 1): string =>
  Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(digits)}` : 'n/a';

/**
 * A Worker and a WarrenClient in one process at a steady rate for minutes (the main bench's soak, ten times
 * longer), its memory by part and its active resources sampled every few seconds; the same for the raw amqplib pair
 * and under other allocator and young-generation settings, when asked, to tell a leak from the heap's sizing.
 */
export async function soakScenario(ctx: ScaleContext, settings: SoakSettings): Promise<ScenarioReport> {
  const started = performance.now();
  const loadStart = loadAverageText();
  const runs: VariantRun[] = [];
  const notes: string[] = [];
  const fromS = warmupSeconds(settings.seconds);
  for (const variant of settings.variants) {
    const namespace = newNamespace('soak');
    const { system, nodeArgs, env } = variantRun(variant);
    ctx.log(`soak ${variant}: ${int(settings.seconds)} s at ${int(settings.rate)} jobs/s`);
    const outcome = await ctx.trial<SoakTrialResult>(
      [
        '--mode',
        'soak',
        '--system',
        system,
        '--rate',
        String(settings.rate),
        '--seconds',
        String(settings.seconds),
        '--sample-seconds',
        String(settings.sampleSeconds),
        '--namespace',
        namespace,
      ],
      `scale-soak-${variant}`,
      settings.seconds + 120,
      { nodeArgs, ...(env ? { env } : {}) },
    );
    await ctx.cleanup(namespace, [JOB_TYPE]);
    if ('error' in outcome) {
      notes.push(`${variant} failed: ${outcome.error}`);
      ctx.log(`soak ${variant}: FAILED: ${outcome.error}`);
      continue;
    }
    const result = outcome.result;
    const toS = result.samples.at(-1)?.atS ?? settings.seconds;
    const steady = result.samples.filter((s) => s.atS >= fromS);
    runs.push({ variant, result, steady, fromS, toS });
    const rss = trend(steady, (s) => s.rssMb, settings.sampleSeconds);
    ctx.log(
      `soak ${variant}: RSS ${rss.first.toFixed(1)} → ${rss.last.toFixed(1)} MB (${signed(rss.growth)} MB, ` +
        `${signed(rss.slope, 2)} MB/min), heap after GC ${result.gcStart.heapUsedMb.toFixed(1)} → ` +
        `${result.gcEnd.heapUsedMb.toFixed(1)} MB, latency p99 ${result.latency.p99Ms.toFixed(1)} ms`,
    );
  }

  const sections: Section[] = [];
  for (const run of runs) {
    const { variant, result, steady } = run;
    const label = variantLabel(variant);
    const steadyMin = (run.toS - run.fromS) / 60;
    sections.push({
      title: `${label}: memory over the steady part, MB`,
      note:
        `${int(result.seconds)} s at ${int(result.rate)} jobs/s (achieved ${int(result.achievedRate)}), a sample ` +
        `every ${settings.sampleSeconds} s; steady part ${int(run.fromS)}–${int(run.toS)} s (${steadyMin.toFixed(1)} ` +
        `min, the first ${int(run.fromS)} s left out); first / last = median of its first / last ${EDGE_SECONDS} s; ` +
        'slope by least squares over the steady part and over its second half',
      columns: ['', 'first', 'last', 'growth', 'slope, MB/min', 'slope, 2nd half', 'fitted rise'],
      rows: PARTS.map(([name, pick]) => {
        const t = trend(steady, pick, settings.sampleSeconds);
        return [
          name,
          fixed(1)(t.first),
          fixed(1)(t.last),
          signed(t.growth),
          signed(t.slope, 2),
          signed(t.slopeLate, 2),
          signed(t.slope * steadyMin),
        ];
      }),
    });
    sections.push({
      title: `${label}: the whole run, MB`,
      note: 'Samples from the start of the paced load (0 s; −1 s: before the warm-up second), about ten of them',
      columns: ['s', 'RSS', 'anonymous', 'heapTotal', 'new space', 'heapUsed', 'external', 'arrayBuffers'],
      rows: timeline(result.samples).map((s) => [
        int(s.atS),
        fixed(1)(s.rssMb),
        fixed(1)(s.rssAnonMb),
        fixed(1)(s.heapTotalMb),
        fixed(1)(s.newSpaceMb),
        fixed(1)(s.heapUsedMb),
        fixed(1)(s.externalMb),
        fixed(2)(s.arrayBuffersMb),
      ]),
    });
    const types = [...new Set(result.samples.flatMap((s) => Object.keys(s.resources)))].sort();
    const count = (s: SoakSample, type: string): number => s.resources[type] ?? 0;
    sections.push({
      title: `${label}: active resources (process.getActiveResourcesInfo()), by type`,
      note: `Over the steady part: median of its first and last ${EDGE_SECONDS} s, fewest and most in one sample`,
      columns: ['type', 'first', 'last', 'fewest', 'most'],
      rows: types.map((type) => {
        const t = trend(steady, (s) => count(s, type), settings.sampleSeconds);
        const all = steady.map((s) => count(s, type));
        return [type, int(t.first), int(t.last), int(Math.min(...all)), int(Math.max(...all))];
      }),
    });
    const { gcStart: a, gcEnd: b } = result;
    sections.push({
      title: `${label}: after a full collection (--expose-gc), MB`,
      note:
        `When the load starts (after the warm-up second) and once every job is acknowledged. Latency publish → ` +
        `handler p50 / p99 / max: ${fixed(2)(result.latency.p50Ms)} / ${fixed(2)(result.latency.p99Ms)} / ` +
        `${fixed(1)(result.latency.maxMs)} ms; ${int(result.acked)} of ${int(result.jobs)} jobs acknowledged`,
      columns: ['', 'start', 'end', 'growth'],
      rows: (
        [
          ['heapUsed (retained)', (g) => g.heapUsedMb],
          ['heapTotal', (g) => g.heapTotalMb],
          ['external', (g) => g.externalMb],
          ['arrayBuffers', (g) => g.arrayBuffersMb],
          ['RSS', (g) => g.rssMb],
        ] as const satisfies ReadonlyArray<readonly [string, (g: typeof a) => number]>
      ).map(([name, pick]) => [name, fixed(2)(pick(a)), fixed(2)(pick(b)), signed(pick(b) - pick(a), 2)]),
    });
  }

  const checks: Check[] = [];
  for (const run of runs) {
    const { variant, result, steady } = run;
    const steadyMin = (run.toS - run.fromS) / 60;
    const rss = trend(steady, (s) => s.rssMb, settings.sampleSeconds);
    const rise = rss.slope * steadyMin;
    const retained = result.gcEnd.heapUsedMb - result.gcStart.heapUsedMb;
    const types = [...new Set(steady.flatMap((s) => Object.keys(s.resources)))];
    const grown = types.filter((type) => {
      const t = trend(steady, (s) => s.resources[type] ?? 0, settings.sampleSeconds);
      return t.last > t.first + 2;
    });
    // The target is warren's; the other variants are there to compare.
    const target = variant === 'warren';
    const name = (what: string): string => (target ? what : `${what} (${variant}, for comparison)`);
    checks.push(
      {
        name: name(`RSS flat over a ${duration(result.seconds)} soak`),
        expected: `growth ≤ ${RSS_GROWTH_LIMIT_MB} MB and fitted rise (slope × ${steadyMin.toFixed(1)} min) ≤ ${RSS_GROWTH_LIMIT_MB} MB over ${int(run.fromS)}–${int(run.toS)} s`,
        measured: `${rss.first.toFixed(1)} → ${rss.last.toFixed(1)} MB (${signed(rss.growth)} MB), slope ${signed(rss.slope, 2)} MB/min (rise ${signed(rise)} MB)`,
        pass: target ? rss.growth <= RSS_GROWTH_LIMIT_MB && rise <= RSS_GROWTH_LIMIT_MB : undefined,
      },
      {
        name: name('heap retained after a full GC'),
        expected: `growth ≤ ${RETAINED_LIMIT_MB} MB, start → end`,
        measured: `${result.gcStart.heapUsedMb.toFixed(2)} → ${result.gcEnd.heapUsedMb.toFixed(2)} MB (${signed(retained, 2)} MB)`,
        pass: target ? retained <= RETAINED_LIMIT_MB : undefined,
      },
      {
        name: name('active resources'),
        expected: `no type grows (last ${EDGE_SECONDS} s ≤ first ${EDGE_SECONDS} s + 2)`,
        measured: grown.length === 0 ? `none grew (${types.sort().join(', ')})` : `grew: ${grown.join(', ')}`,
        pass: target ? grown.length === 0 : undefined,
      },
    );
  }
  return {
    scenario: 'soak',
    title: `Soak: ${settings.variants.join(', ')}, ${int(settings.seconds)} s at ${int(settings.rate)} jobs/s`,
    measured: [
      `One process: a consumer and a publisher, publish → quorum queue → no-op handler → ack, paced at ` +
        `${int(settings.rate)} jobs/s for ${int(settings.seconds)} s after a warm-up second (at most ` +
        `${int(Math.max(1_000, settings.rate))} unconfirmed): warren's Worker (prefetch 50) and WarrenClient from ` +
        'bench/systems/warren-system.ts, or the raw amqplib pair of bench/systems/amqplib-system.ts, as in the main ' +
        'bench’s soak. Variants: ' +
        settings.variants.map((v) => `${v} (${variantLabel(v)})`).join('; ') +
        '.',
      `Every ${settings.sampleSeconds} s: \`process.memoryUsage()\` (rss, heapTotal, heapUsed, external, ` +
        'arrayBuffers), resident anonymous and file-backed pages (/proc/self/status), the size of V8’s new space, ' +
        'and `process.getActiveResourcesInfo()` counted by type. A full collection (`--expose-gc`) when the load ' +
        'starts and when every job is acknowledged, and the heap read after each.',
      `Targets (warren): RSS flat over the steady part (from ${int(fromS)} s, the young generation and pools at ` +
        `their working size by then): growth ≤ ${RSS_GROWTH_LIMIT_MB} MB and the least-squares line rising ≤ ` +
        `${RSS_GROWTH_LIMIT_MB} MB across it; the heap after a full GC growing ≤ ${RETAINED_LIMIT_MB} MB; no type of ` +
        'active resource growing.',
    ],
    command: `npm run bench -- --scale --scale-scenarios soak --scale-soak-seconds ${int(settings.seconds)}`,
    sections,
    checks,
    notes,
    profiles: [],
    seconds: (performance.now() - started) / 1000,
    loadStart,
    loadEnd: loadAverageText(),
  };
}

/** `10-minute`, `90 s`. */
function duration(seconds: number): string {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60}-minute` : `${int(seconds)} s`;
}

function variantLabel(variant: SoakVariant): string {
  const { system, nodeArgs, env } = variantRun(variant);
  const extra = [
    ...nodeArgs.filter((arg) => arg !== '--expose-gc'),
    ...Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  return `${system === 'warren' ? 'warren Worker + WarrenClient' : 'raw amqplib'}${extra.length > 0 ? `, ${extra.join(' ')}` : ''}`;
}

/**
 * The samples nearest to −1 s (before the warm-up), 0, 10, 20, 30, 45 and 60 s (where the heap grows to its working
 * size) and every tenth of the run after that.
 */
function timeline(samples: readonly SoakSample[]): SoakSample[] {
  const end = samples.at(-1)?.atS ?? 0;
  const times = [-1, 0, 10, 20, 30, 45, 60, ...Array.from({ length: 10 }, (_, i) => ((i + 1) * end) / 10)];
  const picked = new Set<SoakSample>();
  for (const at of times) {
    if (at > end + 1) continue;
    let best: SoakSample | undefined;
    for (const sample of samples) if (!best || Math.abs(sample.atS - at) < Math.abs(best.atS - at)) best = sample;
    if (best) picked.add(best);
  }
  return [...picked].sort((a, b) => a.atS - b.atS);
}
