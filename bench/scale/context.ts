import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Section } from '../lib/table.js';
import { runChild, trialOutput, type ChildRun } from './child.js';
import { listNamespace, sweepNamespace, type Endpoints, type Sweep } from './namespace.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where `.cpuprofile` files go (git-ignored), as for the main bench. */
export const PROFILE_DIR = resolve(ROOT, 'bench/results/profiles');

/** The scale scenarios, in the order they run. */
export const SCALE_SCENARIOS = [
  'dead-letters',
  'publish-concurrency',
  'job-types',
  'schedules',
  'delayed-jobs',
  'soak',
] as const;
export type ScaleScenario = (typeof SCALE_SCENARIOS)[number];

/** One target: what was expected, what was measured, and whether it held (`undefined`: not measured). */
export interface Check {
  readonly name: string;
  readonly expected: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
}

/** A CPU profile of a step whose target was missed (or of every step with `--profile`), summarised. */
export interface ProfileSummary {
  readonly title: string;
  /** The command that was profiled. */
  readonly command: string;
  readonly file: string;
  /** bench/profile.ts's summary, cut to its top. */
  readonly summary: string;
}

/** What a scenario reports. */
export interface ScenarioReport {
  readonly scenario: ScaleScenario;
  readonly title: string;
  /** What is measured and how, one bullet each. */
  readonly measured: readonly string[];
  /** The command that runs this scenario alone. */
  readonly command: string;
  readonly sections: readonly Section[];
  readonly checks: readonly Check[];
  /** Findings worth a line of their own (errors seen, checks of the broker's state). */
  readonly notes: readonly string[];
  readonly profiles: readonly ProfileSummary[];
  readonly seconds: number;
  readonly loadStart: string;
  readonly loadEnd: string;
}

/** One trial's parsed result, or why there is none; and the process it ran in. */
export type TrialOutcome<T> =
  { readonly result: T; readonly run: ChildRun } | { readonly error: string; readonly run: ChildRun };

/** What every scenario is given by the runner. */
export class ScaleContext {
  readonly sweeps: Array<{ namespace: string; sweep: Sweep }> = [];

  constructor(
    readonly endpoints: Endpoints,
    /** bench/.build/scale/trial.mjs */
    readonly bundle: string,
    /** Rounds of every measurement that is cheap enough to repeat. */
    readonly rounds: number,
    /** Profile every trial and CLI command (`--profile`). */
    readonly profileAll: boolean,
    /** Profile a step again when its target was missed. */
    readonly profileMisses: boolean,
    readonly log: (line: string) => void,
  ) {}

  /** Arguments every trial takes. */
  get trialArgs(): string[] {
    return ['--amqp-url', this.endpoints.amqpUrl, '--redis-url', this.endpoints.redisUrl];
  }

  /**
   * Runs one scale trial (bench/.build/scale/trial.mjs) in a process of its own; `--profile` profiles it. `node`
   * takes `options.nodeArgs` (`--expose-gc`, …); `options.env` is added to the runner's environment.
   */
  async trial<T>(
    args: readonly string[],
    name: string,
    timeoutSeconds = 300,
    options: { readonly nodeArgs?: readonly string[]; readonly env?: Readonly<Record<string, string>> } = {},
  ): Promise<TrialOutcome<T>> {
    const nodeArgs = [...(options.nodeArgs ?? []), ...(this.profileAll ? profileFlags(name) : [])];
    const run = await runChild(
      process.execPath,
      [...nodeArgs, this.bundle, ...args, ...this.trialArgs, '--timeout-seconds', String(timeoutSeconds)],
      {
        cwd: ROOT,
        timeoutMs: (timeoutSeconds + 60) * 1000,
        ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
      },
    );
    const parsed = trialOutput<T>(run);
    if ('result' in parsed && this.profileAll) writeWindow(name, run);
    return { ...parsed, run };
  }

  /**
   * Runs `node <args>` once more under `--cpu-prof` and summarises the profile with bench/profile.ts (the measured
   * window only, when the trial printed one).
   */
  async profile(
    title: string,
    name: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutSeconds?: number } = {},
  ): Promise<ProfileSummary> {
    this.log(`  profiling: ${title}`);
    const run = await runChild(process.execPath, [...profileFlags(name), ...args], {
      cwd: options.cwd ?? ROOT,
      ...(options.env ? { env: options.env } : {}),
      timeoutMs: ((options.timeoutSeconds ?? 300) + 60) * 1000,
    });
    writeWindow(name, run);
    return this.summarise(title, name, `node --cpu-prof ${args.map(shellWord).join(' ')}`);
  }

  /** bench/profile.ts on `<name>.cpuprofile`. */
  async summarise(title: string, name: string, command: string): Promise<ProfileSummary> {
    const file = resolve(PROFILE_DIR, `${name}.cpuprofile`);
    const run = await runChild(process.execPath, ['--import', 'tsx', 'bench/profile.ts', file, '--top', '12'], {
      cwd: ROOT,
      timeoutMs: 120_000,
    });
    const summary = run.code === 0 ? run.stdout.trimEnd() : `bench/profile.ts failed: ${run.stderr.trim()}`;
    return { title, command, file: `bench/results/profiles/${name}.cpuprofile`, summary };
  }

  /**
   * Queues and exchanges still there in the namespaces swept so far (through the management API): what the run left
   * behind. `undefined` when the API does not answer.
   */
  async leftBehind(): Promise<number | undefined> {
    let left = 0;
    try {
      for (const { namespace } of this.sweeps) {
        const { queues, exchanges } = await listNamespace(this.endpoints, namespace);
        left += queues.length + exchanges.length;
      }
    } catch {
      return undefined;
    }
    return left;
  }

  /** Deletes everything of a namespace (see {@link sweepNamespace}) and records what was deleted. */
  async cleanup(namespace: string, jobTypes: readonly string[]): Promise<void> {
    try {
      const sweep = await sweepNamespace(this.endpoints, namespace, jobTypes);
      this.sweeps.push({ namespace, sweep });
      for (const problem of sweep.problems) this.log(`  cleanup of ${namespace}: ${problem}`);
    } catch (error) {
      this.sweeps.push({
        namespace,
        sweep: { queues: 0, exchanges: 0, redisKeys: 0, problems: [(error as Error).message] },
      });
      this.log(`  cleanup of ${namespace} failed: ${(error as Error).message}`);
    }
  }
}

/** `node` flags that write `<name>.cpuprofile` to {@link PROFILE_DIR}, sampling every 100 µs. */
export function profileFlags(name: string): string[] {
  mkdirSync(PROFILE_DIR, { recursive: true });
  // A window left by an earlier run of the same name would cut this profile.
  rmSync(resolve(PROFILE_DIR, `${name}.json`), { force: true });
  return [
    '--cpu-prof',
    '--cpu-prof-interval=100',
    `--cpu-prof-dir=${PROFILE_DIR}`,
    `--cpu-prof-name=${name}.cpuprofile`,
  ];
}

/** The trial's measured window beside its profile, which bench/profile.ts restricts the summary to. */
function writeWindow(name: string, run: ChildRun): void {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (line.startsWith('{') && line.includes('"windowUs"'))
    writeFileSync(resolve(PROFILE_DIR, `${name}.json`), `${line}\n`);
}

/** A word of a command as a shell would need it, paths inside the repository relative to it. */
function shellWord(arg: string): string {
  const word = arg.startsWith(ROOT) ? relative(ROOT, arg) : arg;
  return /^[\w./:=,@-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
