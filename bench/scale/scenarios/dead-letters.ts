import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deadQueue, jobQueue } from '../../../src/topology/names.js';
import { loadAverageText } from '../../lib/machine.js';
import { max, median, min } from '../../lib/stats.js';
import { fixed, int, type Section } from '../../lib/table.js';
import { BrokerChecks } from '../broker-checks.js';
import { runChild, type ChildRun } from '../child.js';
import {
  ROOT,
  profileFlags,
  type Check,
  type ProfileSummary,
  type ScaleContext,
  type ScenarioReport,
} from '../context.js';
import { newNamespace } from '../namespace.js';
import { PROGRESS_LINE, type FillResult, type RawReplayResult } from '../scale-types.js';

/** The job type whose dead-letter queue is filled. */
const JOB_TYPE = 'bench.dead';
const CLI = resolve(ROOT, 'bin/warren.js');
/** `warren dlq list` and `peek` must answer within this, whatever the depth. */
const CLI_TARGET_MS = 1_000;
/** The replay must run at this fraction of the raw baseline's rate at least. */
const REPLAY_TARGET = 0.5;
const PEEK_LIMIT = 20;
/** `warren dlq replay`'s prefetch (DEFAULT_MAX_UNCONFIRMED), given to the raw baseline too. */
const REPLAY_PREFETCH = 100;

/** The settings of the scenario. */
export interface DeadLetterSettings {
  /** Depths of the dead-letter queue. */
  readonly depths: readonly number[];
  /** Runs of `dlq list` and of `dlq peek` per depth (cheap). */
  readonly cliRuns: number;
}

/** What one depth measured. */
interface DepthResult {
  readonly depth: number;
  readonly fills: FillResult[];
  readonly listMs: number[];
  readonly peekMs: number[];
  readonly listProblems: string[];
  readonly peekProblems: string[];
  /** The dead-letter queue's depth after every peek (each should be `depth`). */
  readonly depthAfterPeeks: number[];
  readonly warren: ReplayRun[];
  readonly raw: ReplayRun[];
  readonly replayProblems: string[];
}

/** One replay: its steady rate (from the progress lines), its wall time, and the queues afterwards. */
interface ReplayRun {
  readonly round: number;
  readonly rate: number;
  readonly wallSeconds: number;
}

/**
 * Dead letters at depth: `warren dlq list` and `warren dlq peek` (the built CLI, `node bin/warren.js`, as users run
 * it) against a dead-letter queue of 10k and 100k, and `warren dlq replay` against plain amqplib doing the same
 * moves. The queue is filled straight through the dead-letter exchange with warren's own failure headers.
 */
export async function deadLetterScenario(ctx: ScaleContext, settings: DeadLetterSettings): Promise<ScenarioReport> {
  const started = performance.now();
  const loadStart = loadAverageText();
  const notes: string[] = [];
  const profiles: ProfileSummary[] = [];
  ctx.log('dead letters: npm run build (the CLI runs from dist/)');
  const build = await runChild('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 300_000 });
  if (build.code !== 0) throw new Error(`npm run build failed: ${build.stderr.trim() || build.stdout.trim()}`);
  const startupMs: number[] = [];
  for (let i = 0; i < settings.cliRuns; i += 1) {
    startupMs.push((await runChild(process.execPath, [CLI, '--version'], { cwd: ROOT, timeoutMs: 60_000 })).wallMs);
  }
  const checks = await BrokerChecks.open(ctx.endpoints.amqpUrl);
  const results: DepthResult[] = [];
  try {
    for (const depth of settings.depths) {
      const namespace = newNamespace('dead-letters');
      const project = resolve(ROOT, 'bench/.build/scale/projects', namespace);
      try {
        results.push(await measureDepth(ctx, checks, settings, depth, namespace, project, profiles));
      } finally {
        rmSync(project, { recursive: true, force: true });
        await ctx.cleanup(namespace, [JOB_TYPE]);
      }
    }
  } finally {
    await checks.close();
  }

  const cell = (values: readonly number[], format: (value: number) => string): string =>
    values.length === 0
      ? 'failed'
      : values.length === 1
        ? format(values[0] as number)
        : `${format(median(values))} (${format(min(values))}–${format(max(values))})`;
  const sections: Section[] = [
    {
      title: 'warren dlq list / peek, wall time of the command, ms',
      note:
        `\`node bin/warren.js …\` from spawn to exit (Node's start, loading the CLI and the handlers module, connecting, ` +
        `the command); median (min–max) of ${settings.cliRuns}. \`warren --version\` (no broker): ${cell(startupMs, int)} ms`,
      columns: ['dead letters', 'dlq list', `dlq peek --limit ${PEEK_LIMIT}`, 'depth after the peeks'],
      rows: results.map((r) => [
        int(r.depth),
        cell(r.listMs, int),
        cell(r.peekMs, int),
        r.depthAfterPeeks.every((d) => d === r.depth)
          ? `${int(r.depth)} (unchanged)`
          : r.depthAfterPeeks.map(int).join(', '),
      ]),
    },
    {
      title: 'Replay, dead letters per second',
      note:
        `warren: \`warren dlq replay ${JOB_TYPE}\` (it replays every dead letter there; prefetch ${REPLAY_PREFETCH}). ` +
        `raw: plain amqplib, prefetch ${REPLAY_PREFETCH}, a confirm channel on a second connection, ack after the confirm. ` +
        'Rate = the progress lines both print on stderr (`replayed n/N`, every 1,000), first line → last, timestamped ' +
        'as they arrive; wall = the whole process (start, connect, the replay, the summary). ' +
        `Median (min–max) of ${ctx.rounds} rounds, the two alternating; the job queue is purged after each`,
      columns: [
        'dead letters',
        'warren replay',
        'raw amqplib',
        'warren/raw',
        'warren wall, s',
        'raw wall, s',
        'fill (dead letters/s)',
      ],
      rows: results.map((r) => {
        const w = r.warren.map((run) => run.rate);
        const a = r.raw.map((run) => run.rate);
        return [
          int(r.depth),
          cell(w, int),
          cell(a, int),
          w.length > 0 && a.length > 0 ? `${(median(w) / median(a)).toFixed(2)}×` : 'n/a',
          cell(
            r.warren.map((run) => run.wallSeconds),
            fixed(2),
          ),
          cell(
            r.raw.map((run) => run.wallSeconds),
            fixed(2),
          ),
          cell(
            r.fills.map((f) => f.count / f.seconds),
            int,
          ),
        ];
      }),
    },
  ];
  const headerBytes = results.flatMap((r) => r.fills).at(0)?.headerBytes;
  if (headerBytes !== undefined) {
    notes.push(
      `Each dead letter: the bench's ~200-byte JSON body and warren's failure headers as a worker writes them ` +
        `(\`failureHeaders\`: reason exhausted, attempt 3, a TypeError with its stack, …), ${headerBytes} bytes of headers.`,
    );
  }
  const reportChecks: Check[] = [];
  for (const r of results) {
    const problems = [...r.listProblems, ...r.peekProblems, ...r.replayProblems];
    for (const problem of problems) notes.push(`${int(r.depth)} dead letters: ${problem}`);
    const list = median(r.listMs);
    const peek = median(r.peekMs);
    reportChecks.push({
      name: `dlq list, ${int(r.depth)} dead letters`,
      expected: `< ${int(CLI_TARGET_MS)} ms`,
      measured: `${int(list)} ms`,
      pass: Number.isFinite(list) && r.listProblems.length === 0 ? list < CLI_TARGET_MS : undefined,
    });
    reportChecks.push({
      name: `dlq peek --limit ${PEEK_LIMIT}, ${int(r.depth)} dead letters`,
      expected: `< ${int(CLI_TARGET_MS)} ms`,
      measured: `${int(peek)} ms`,
      pass: Number.isFinite(peek) && r.peekProblems.length === 0 ? peek < CLI_TARGET_MS : undefined,
    });
    reportChecks.push({
      name: `peek costs no message, ${int(r.depth)} dead letters`,
      expected: `depth ${int(r.depth)} after each of ${settings.cliRuns} peeks`,
      measured: r.depthAfterPeeks.map(int).join(', ') || 'not measured',
      pass: r.depthAfterPeeks.length === 0 ? undefined : r.depthAfterPeeks.every((d) => d === r.depth),
    });
    const w = median(r.warren.map((run) => run.rate));
    const a = median(r.raw.map((run) => run.rate));
    reportChecks.push({
      name: `replay rate, ${int(r.depth)} dead letters`,
      expected: `≥ ${REPLAY_TARGET.toFixed(2)}× raw amqplib`,
      measured: `${(w / a).toFixed(2)}× (${int(w)} vs ${int(a)} dead letters/s)`,
      pass: Number.isFinite(w / a) ? w / a >= REPLAY_TARGET : undefined,
    });
    reportChecks.push({
      name: `replay moves every dead letter, ${int(r.depth)}`,
      expected: `${int(r.depth)} replayed, dead-letter queue 0, job queue ${int(r.depth)}`,
      measured:
        r.replayProblems.length === 0
          ? 'as expected, every round'
          : `${r.replayProblems.length} problem(s), see the notes`,
      pass: r.warren.length === 0 ? undefined : r.replayProblems.length === 0,
    });
  }
  return {
    scenario: 'dead-letters',
    title: 'Dead letters at depth: dlq list, dlq peek, dlq replay',
    measured: [
      `A dead-letter queue of ${settings.depths.map(int).join(' and ')} dead letters of one job type, filled with a ` +
        'raw confirm channel through the dead-letter exchange (warren’s own failure headers, built by the function ' +
        'a worker uses).',
      `The CLI users run (\`node bin/warren.js\`, after \`npm run build\`), from a directory holding a handlers module ` +
        `with the job type, \`WARREN_NAMESPACE\` set: wall time of \`dlq list\` and \`dlq peek ${JOB_TYPE} --limit ${PEEK_LIMIT}\`, ` +
        `${settings.cliRuns} runs each; the queue's depth after each peek (a peek must not cost a message).`,
      `\`warren dlq replay ${JOB_TYPE}\` (all the dead letters; the command has no \`--all\`/\`--yes\`: it replays ` +
        'everything by default and asks nothing) against a raw amqplib replay in the same run, alternating; ' +
        'afterwards the dead-letter queue must be empty and the job queue hold as many messages as there were dead letters.',
    ],
    command: 'npm run bench -- --scale --scale-scenarios dead-letters',
    sections,
    checks: reportChecks,
    notes,
    profiles,
    seconds: (performance.now() - started) / 1000,
    loadStart,
    loadEnd: loadAverageText(),
  };
}

async function measureDepth(
  ctx: ScaleContext,
  checks: BrokerChecks,
  settings: DeadLetterSettings,
  depth: number,
  namespace: string,
  project: string,
  profiles: ProfileSummary[],
): Promise<DepthResult> {
  const dlq = deadQueue(namespace, JOB_TYPE);
  const queue = jobQueue(namespace, JOB_TYPE);
  const result: DepthResult = {
    depth,
    fills: [],
    listMs: [],
    peekMs: [],
    listProblems: [],
    peekProblems: [],
    depthAfterPeeks: [],
    warren: [],
    raw: [],
    replayProblems: [],
  };
  writeProject(project);
  const env = cliEnv(ctx, namespace);
  const cli = (args: readonly string[], name: string, timeoutSeconds = 60): Promise<ChildRun> =>
    runChild(process.execPath, [...(ctx.profileAll ? profileFlags(name) : []), CLI, ...args], {
      cwd: project,
      env,
      timeoutMs: timeoutSeconds * 1000,
    });
  const fill = async (): Promise<void> => {
    const outcome = await ctx.trial<FillResult>(
      ['--mode', 'fill-dead-letters', '--namespace', namespace, '--job-type', JOB_TYPE, '--count', String(depth)],
      `scale-dlq-fill-${depth}`,
    );
    if ('error' in outcome) throw new Error(`filling ${dlq} with ${depth} dead letters failed: ${outcome.error}`);
    result.fills.push(outcome.result);
    const seen = await checks.depth(dlq);
    if (seen !== depth) throw new Error(`${dlq} holds ${seen} messages after the fill, not ${depth}`);
  };

  ctx.log(`dead letters: ${int(depth)} in ${dlq}`);
  await fill();
  ctx.log(`  filled at ${int(depth / (result.fills[0]?.seconds ?? NaN))} dead letters/s`);

  for (let i = 1; i <= settings.cliRuns; i += 1) {
    const run = await cli(['dlq', 'list'], `scale-dlq-list-${depth}-r${i}`);
    result.listMs.push(run.wallMs);
    const row = new RegExp(`^${JOB_TYPE.replace('.', '\\.')}\\s+${dlq.replaceAll('.', '\\.')}\\s+(\\d+)$`, 'm').exec(
      run.stdout,
    );
    if (run.code !== 0 || row?.[1] !== String(depth))
      result.listProblems.push(
        `dlq list run ${i}: exit ${String(run.code)}, printed ${JSON.stringify(run.stdout.trim())}`,
      );
  }
  for (let i = 1; i <= settings.cliRuns; i += 1) {
    const run = await cli(['dlq', 'peek', JOB_TYPE, '--limit', String(PEEK_LIMIT)], `scale-dlq-peek-${depth}-r${i}`);
    result.peekMs.push(run.wallMs);
    const shown = /^(\d+) dead letters? shown/m.exec(run.stdout)?.[1];
    if (run.code !== 0 || shown !== String(PEEK_LIMIT))
      result.peekProblems.push(
        `dlq peek run ${i}: exit ${String(run.code)}, showed ${shown ?? 'nothing'}: ${run.stderr.trim()}`,
      );
    result.depthAfterPeeks.push(await checks.depthSettled(dlq, depth));
  }
  ctx.log(`  dlq list ${int(median(result.listMs))} ms, dlq peek ${int(median(result.peekMs))} ms (medians)`);
  if (ctx.profileMisses && !ctx.profileAll && median(result.listMs) >= CLI_TARGET_MS) {
    profiles.push(
      await ctx.profile(`dlq list, ${int(depth)} dead letters`, `scale-dlq-list-${depth}`, [CLI, 'dlq', 'list'], {
        cwd: project,
        env,
      }),
    );
  }
  if (ctx.profileMisses && !ctx.profileAll && median(result.peekMs) >= CLI_TARGET_MS) {
    profiles.push(
      await ctx.profile(
        `dlq peek, ${int(depth)} dead letters`,
        `scale-dlq-peek-${depth}`,
        [CLI, 'dlq', 'peek', JOB_TYPE, '--limit', String(PEEK_LIMIT)],
        { cwd: project, env },
      ),
    );
  }

  const timeoutSeconds = Math.max(120, Math.ceil(depth / 500));
  const afterReplay = async (who: string, round: number): Promise<void> => {
    const left = await checks.depth(dlq);
    const moved = await checks.depth(queue);
    if (left !== 0 || moved !== depth)
      result.replayProblems.push(
        `${who} round ${round}: ${left} left in ${dlq}, ${moved} in ${queue} (expected 0 and ${depth})`,
      );
    await checks.purge(queue);
  };
  const replayWarren = async (round: number): Promise<void> => {
    if ((await checks.depth(dlq)) !== depth) await fill();
    const run = await cli(['dlq', 'replay', JOB_TYPE], `scale-dlq-replay-${depth}-r${round}`, timeoutSeconds);
    const replayed = /^replayed (\d+) dead letters? of/m.exec(run.stdout)?.[1];
    if (run.code !== 0 || replayed !== String(depth)) {
      result.replayProblems.push(
        `warren round ${round}: exit ${String(run.code)}, ${JSON.stringify(run.stdout.trim())} ${run.stderr.trim().split('\n').slice(-2).join(' / ')}`,
      );
    } else {
      result.warren.push({ round, rate: steadyRate(run, depth), wallSeconds: run.wallMs / 1000 });
    }
    await afterReplay('warren', round);
  };
  const replayRaw = async (round: number): Promise<void> => {
    if ((await checks.depth(dlq)) !== depth) await fill();
    const outcome = await ctx.trial<RawReplayResult>(
      [
        '--mode',
        'raw-replay',
        '--namespace',
        namespace,
        '--job-type',
        JOB_TYPE,
        '--count',
        String(depth),
        '--prefetch',
        String(REPLAY_PREFETCH),
      ],
      `scale-dlq-raw-replay-${depth}-r${round}`,
      timeoutSeconds,
    );
    if ('error' in outcome) result.replayProblems.push(`raw round ${round}: ${outcome.error}`);
    else result.raw.push({ round, rate: steadyRate(outcome.run, depth), wallSeconds: outcome.run.wallMs / 1000 });
    await afterReplay('raw', round);
  };
  for (let round = 1; round <= ctx.rounds; round += 1) {
    // Alternate who goes first: neither always replays onto a freshly purged broker.
    const order = round % 2 === 1 ? [replayWarren, replayRaw] : [replayRaw, replayWarren];
    for (const replay of order) await replay(round);
    const w = result.warren.at(-1);
    const a = result.raw.at(-1);
    ctx.log(
      `  replay round ${round}: warren ${w ? int(w.rate) : 'failed'}, raw ${a ? int(a.rate) : 'failed'} dead letters/s`,
    );
  }
  const ratio = median(result.warren.map((r) => r.rate)) / median(result.raw.map((r) => r.rate));
  if (ctx.profileMisses && !ctx.profileAll && Number.isFinite(ratio) && ratio < REPLAY_TARGET) {
    await fill();
    profiles.push(
      await ctx.profile(
        `dlq replay, ${int(depth)} dead letters`,
        `scale-dlq-replay-${depth}`,
        [CLI, 'dlq', 'replay', JOB_TYPE],
        { cwd: project, env, timeoutSeconds },
      ),
    );
    await checks.purge(queue);
  }
  return result;
}

/**
 * Dead letters per second between the first and the last progress line (`replayed n/N`) the replay printed on
 * stderr: the replay itself, without the process's start and end. The whole process's rate when it printed fewer
 * than two.
 */
function steadyRate(run: ChildRun, total: number): number {
  const marks = run.lines.flatMap(({ atMs, text }) => {
    const match = PROGRESS_LINE.exec(text.trim());
    return match ? [{ atMs, n: Number(match[1]) }] : [];
  });
  const first = marks[0];
  const last = marks.at(-1);
  if (!first || !last || last.n <= first.n || last.atMs <= first.atMs) return total / (run.wallMs / 1000);
  return (last.n - first.n) / ((last.atMs - first.atMs) / 1000);
}

/** A directory the CLI runs in: `handlers/index.mjs` registers the job type (`dlq list` lists the registered ones). */
function writeProject(project: string): void {
  mkdirSync(resolve(project, 'handlers'), { recursive: true });
  const warren = pathToFileURL(resolve(ROOT, 'dist/src/index.js')).href;
  writeFileSync(
    resolve(project, 'handlers/index.mjs'),
    `import { defineJob } from ${JSON.stringify(warren)};\n\n` +
      `export const handlers = [defineJob(${JSON.stringify(JOB_TYPE)}, () => {})];\n`,
  );
}

/** The CLI's environment: the runner's without any WARREN_* setting, then the namespace and the broker. */
function cliEnv(ctx: ScaleContext, namespace: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('WARREN_')) env[name] = value;
  return { ...env, WARREN_NAMESPACE: namespace, WARREN_AMQP_URL: ctx.endpoints.amqpUrl };
}
