/**
 * Summarises `node --cpu-prof` profiles of bench trials: where the CPU went by package, the top functions by self
 * time, and for warren's own code (src/…) the functions and source lines with the most self time. Positions in the
 * bundled trial (bench/.build/*.mjs) are mapped back to the TypeScript through the bundle's .map files.
 *
 *   npm run bench -- --profile --scenarios e2e --prefetch 50 --systems warren,amqplib
 *   npx tsx bench/profile.ts bench/results/profiles/warren-e2e-p50-r1.cpuprofile [--top 25]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './lib/args.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
  readonly positionTicks?: ReadonlyArray<{ readonly line: number; readonly ticks: number }>;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface Place {
  /** `src/…`, `bench/…`, a package name, `node:…` or a V8 pseudo-frame. */
  readonly category: string;
  /** Source file (relative to the repository) and 1-based line, when known. */
  readonly where: string;
}

class SourceMaps {
  readonly #maps = new Map<string, { map: SourceMap; dir: string; lines: string[] } | null>();

  /** Maps a 0-based generated position in `url` to `file:line` in the original source. */
  original(url: string, line: number, column: number): { file: string; line: number } | undefined {
    const entry = this.#load(url);
    if (!entry) return undefined;
    const found = entry.map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    if (!found.originalSource || found.originalLine === undefined) return undefined;
    const file = relative(ROOT, resolve(entry.dir, found.originalSource.replace(/^file:\/\//, '')));
    return { file, line: found.originalLine + 1 };
  }

  /** Like {@link original} for a 1-based generated line, at its first non-blank column. */
  originalOfLine(url: string, line: number): { file: string; line: number } | undefined {
    const entry = this.#load(url);
    if (!entry) return undefined;
    const text = entry.lines[line - 1] ?? '';
    return this.original(url, line - 1, Math.max(0, text.search(/\S/)));
  }

  #load(url: string): { map: SourceMap; dir: string; lines: string[] } | null {
    if (this.#maps.has(url)) return this.#maps.get(url) ?? null;
    let entry: { map: SourceMap; dir: string; lines: string[] } | null = null;
    if (url.startsWith('file://')) {
      const path = fileURLToPath(url);
      const mapFile = `${path}.map`;
      if (existsSync(mapFile)) {
        const payload = JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMapPayload;
        entry = { map: new SourceMap(payload), dir: dirname(mapFile), lines: readFileSync(path, 'utf8').split('\n') };
      }
    }
    this.#maps.set(url, entry);
    return entry;
  }
}

function place(frame: CallFrame, maps: SourceMaps): Place {
  const { url, functionName } = frame;
  if (url === '') return { category: functionName.startsWith('(') ? functionName : '(native)', where: '' };
  if (url.startsWith('node:')) return { category: 'node internals', where: url };
  const mapped = maps.original(url, frame.lineNumber, frame.columnNumber);
  if (mapped) {
    const packageName = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(mapped.file)?.[1];
    if (packageName) return { category: packageName, where: `${mapped.file}:${mapped.line}` };
    const top = mapped.file.split('/')[0] ?? mapped.file;
    return { category: top === 'src' ? 'warren src/' : `${top}/`, where: `${mapped.file}:${mapped.line}` };
  }
  const path = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url;
  const packageName = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  if (packageName) return { category: packageName, where: `${path}:${frame.lineNumber + 1}` };
  const top = path.split('/')[0] ?? path;
  return { category: top === 'src' ? 'warren src/' : `${top}/`, where: `${path}:${frame.lineNumber + 1}` };
}

/** The measured window the trial recorded beside its profile (`<name>.json`), if any. */
function measuredWindow(file: string): readonly [number, number] | undefined {
  const json = file.replace(/\.cpuprofile$/, '.json');
  if (json === file || !existsSync(json)) return undefined;
  const result = JSON.parse(readFileSync(json, 'utf8')) as { windowUs?: [number, number] };
  return result.windowUs;
}

function summarise(file: string, top: number, whole: boolean): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const maps = new SourceMaps();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const window = whole ? undefined : measuredWindow(file);
  // Self time per node: each sample lasts until the next one; with a window, only samples inside it count.
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i += 1) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window[0] || at > window[1])) continue;
    const id = profile.samples[i] as number;
    const duration = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + duration);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idleUs = profile.nodes
    .filter((node) => node.callFrame.functionName === '(idle)')
    .reduce((sum, node) => sum + (selfUs.get(node.id) ?? 0), 0);
  const busyUs = totalUs - idleUs;
  const pct = (us: number): string => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(1).padStart(8)} ms`;

  const places = new Map<number, Place>();
  for (const node of profile.nodes) places.set(node.id, place(node.callFrame, maps));

  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { us: number; label: string; category: string }>();
  const warrenLines = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0 || node.callFrame.functionName === '(idle)') continue;
    const where = places.get(node.id) as Place;
    byCategory.set(where.category, (byCategory.get(where.category) ?? 0) + us);
    const name = node.callFrame.functionName || '(anonymous)';
    const key = `${where.category}\u0000${name}\u0000${where.where}`;
    const entry = byFunction.get(key) ?? { us: 0, label: `${name}  ${where.where}`, category: where.category };
    entry.us += us;
    byFunction.set(key, entry);
    if (where.category === 'warren src/' && node.positionTicks) {
      const ticks = node.positionTicks.reduce((sum, tick) => sum + tick.ticks, 0);
      for (const tick of node.positionTicks) {
        const original = maps.originalOfLine(node.callFrame.url, tick.line);
        const at = original ? `${original.file}:${original.line}` : `${where.where} (+${tick.line})`;
        warrenLines.set(`${at}  (${name})`, (warrenLines.get(`${at}  (${name})`) ?? 0) + (us * tick.ticks) / ticks);
      }
    }
  }

  // Inclusive time of warren functions: their own work plus everything they called (libraries included).
  const inclusive = new Map<string, number>();
  const subtree = new Map<number, number>();
  const total = (id: number): number => {
    const known = subtree.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id) as ProfileNode;
    let sum = selfUs.get(id) ?? 0;
    for (const child of node.children ?? []) sum += total(child);
    subtree.set(id, sum);
    return sum;
  };
  const visit = (id: number, active: Set<string>): void => {
    const node = byId.get(id) as ProfileNode;
    const where = places.get(id) as Place;
    let key: string | undefined;
    if (where.category === 'warren src/') {
      key = `${node.callFrame.functionName || '(anonymous)'}  ${where.where}`;
      // Count a recursive function once per stack.
      if (!active.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + total(id));
      else key = undefined;
    }
    if (key) active.add(key);
    for (const child of node.children ?? []) visit(child, active);
    if (key) active.delete(key);
  };
  const root = profile.nodes[0];
  if (root) visit(root.id, new Set());

  const sorted = <T>(entries: Iterable<[string, T]>, value: (t: T) => number): Array<[string, T]> =>
    [...entries].sort((a, b) => value(b[1]) - value(a[1]));
  const out: string[] = [];
  out.push(`${relative(process.cwd(), file)}`);
  const span = window
    ? `the measured window, ${((window[1] - window[0]) / 1e6).toFixed(2)} s (--whole for all of it)`
    : `${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s, the whole process`;
  out.push(
    `  sampled ${span}: busy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s; percentages are of busy time`,
  );
  out.push('', '  self time by package');
  for (const [category, us] of sorted(byCategory, (v) => v).slice(0, 15))
    out.push(`    ${pct(us)} ${ms(us)}  ${category}`);
  out.push('', `  top ${top} functions by self time`);
  for (const [, entry] of sorted(byFunction, (v) => v.us).slice(0, top))
    out.push(`    ${pct(entry.us)} ${ms(entry.us)}  [${entry.category}] ${entry.label}`);
  const warren = sorted(byFunction, (v) => v.us).filter(([, entry]) => entry.category === 'warren src/');
  out.push('', '  warren src/ functions by self time');
  for (const [, entry] of warren.slice(0, top)) out.push(`    ${pct(entry.us)} ${ms(entry.us)}  ${entry.label}`);
  out.push('', '  warren src/ lines by self time');
  for (const [line, us] of sorted(warrenLines, (v) => v).slice(0, top)) out.push(`    ${pct(us)} ${ms(us)}  ${line}`);
  out.push('', '  warren src/ functions by inclusive time (their own work and what they call)');
  for (const [label, us] of sorted(inclusive, (v) => v).slice(0, top)) out.push(`    ${pct(us)} ${ms(us)}  ${label}`);
  return out.join('\n');
}

const HELP = `Usage: npx tsx bench/profile.ts <file.cpuprofile>... [--top N] [--whole]

Summarises CPU profiles written by \`npm run bench -- --profile\` (or \`node --cpu-prof bench/.build/trial.mjs …\`):
self time by package, the top functions, and warren's own functions and source lines (mapped through the
bundle's source maps, so the bundle in bench/.build must be the one that was profiled). When the runner left the
trial's result beside the profile (<name>.json), only the measured window is summarised (startup and pre-filling
left out); --whole summarises the whole process.`;

const files = process.argv.slice(2).filter((arg) => !arg.startsWith('--') && !/^\d+$/.test(arg));
const options = parseArgs(
  process.argv.slice(2).filter((arg) => !files.includes(arg)),
  { top: 'number', whole: 'boolean', help: 'boolean' },
);
if (options['help'] || files.length === 0) {
  process.stdout.write(`${HELP}\n`);
} else {
  const top = Math.round((options['top'] as number | undefined) ?? 20);
  for (const file of files) process.stdout.write(`${summarise(resolve(file), top, options['whole'] === true)}\n\n`);
}
