import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AMQP_URL, waitFor } from './broker.js';
import { ROOT } from './cli.js';

const BIN = fileURLToPath(new URL('../../bin/warren.js', import.meta.url));
/** Output kept per run: the tail is what tells why a run died (a heap abort prints a long native trace). */
const KEPT_OUTPUT_CHARS = 64 * 1024;
/**
 * Preloaded into every run: it SIGKILLs itself once its parent is gone. A test process that is killed (a runner
 * timeout, ^C) runs no `exit` handler, and a run in a process group of its own would otherwise live on.
 */
const ORPHAN_GUARD =
  '--import=data:text/javascript,const parent=process.ppid;' +
  'setInterval(()=>{if(process.ppid!==parent)process.kill(process.pid,"SIGKILL")},500).unref();';
/** What `warren start` prints to stderr once its consumers are running (whatever the log level). */
const STARTED = /^warren: http:\/\/\S+\/metrics /m;

/** One start of the supervised command. */
export interface SupervisedRun {
  /** 0 for the first start, 1 for the first restart, … */
  readonly index: number;
  /** Also the id of its process group; -1 when the spawn failed. */
  readonly pid: number;
  /** `Date.now()` at spawn. */
  readonly spawnedAt: number;
  /** `Date.now()` when it printed that its consumers run; undefined before (and for a run that never got there). */
  readonly startedAt: number | undefined;
  /** Exit code, or the signal's name (`SIGABRT` for a V8 heap abort); undefined while it runs. */
  readonly exit: number | string | undefined;
  readonly exitedAt: number | undefined;
  /** The last 64 KiB of its stdout. */
  stdout(): string;
  /** The last 64 KiB of its stderr. */
  stderr(): string;
}

/** What {@link WarrenSupervisor} runs. */
export interface SupervisorOptions {
  /** warren's arguments, e.g. `['start', '--handlers', 'test/fixtures/…']`. */
  readonly args: readonly string[];
  /** Environment on top of the test process's own, the test broker's URL and `WARREN_HTTP_PORT=0`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node's own flags for every run, before `bin/warren.js` (e.g. `--max-old-space-size=48`). @defaultValue none */
  readonly nodeFlags?: readonly string[];
  /** A crash loop that nothing stops ends after this many runs (the last one is not restarted). @defaultValue 20 */
  readonly maxRuns?: number;
  /** Wait between an exit and the next start, like systemd's `RestartSec`. @defaultValue 0 */
  readonly restartDelayMs?: number;
}

class Run implements SupervisedRun {
  readonly index: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly spawnedAt = Date.now();
  startedAt: number | undefined;
  exit: number | string | undefined;
  exitedAt: number | undefined;
  readonly exited: Promise<number | string>;
  #out = '';
  #err = '';

  constructor(index: number, child: ChildProcess) {
    this.index = index;
    this.child = child;
    // No pid: the spawn failed, and its error event ends the run below.
    this.pid = child.pid ?? -1;
    child.stdout?.on('data', (chunk: Buffer) => (this.#out = keepTail(this.#out + chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#err = keepTail(this.#err + chunk.toString());
      if (this.startedAt === undefined && STARTED.test(this.#err)) this.startedAt = Date.now();
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = code ?? signal ?? -1;
        this.exitedAt = Date.now();
        resolve(this.exit);
      });
      // A spawn that failed emits no exit: it counts as one, so the supervisor neither hangs nor loops silently.
      child.on('error', (error) => {
        this.#err += `\nspawn failed: ${error.message}`;
        this.exit ??= 'spawn-error';
        this.exitedAt ??= Date.now();
        resolve(this.exit);
      });
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  stdout(): string {
    return this.#out;
  }

  stderr(): string {
    return this.#err;
  }

  /** Signals the run's whole process group: it leads one of its own (spawned detached). */
  signal(signal: NodeJS.Signals): void {
    if (this.pid < 0) return;
    try {
      process.kill(-this.pid, signal);
    } catch (error) {
      // ESRCH: the group is gone already.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

function keepTail(text: string): string {
  return text.length > KEPT_OUTPUT_CHARS ? text.slice(-KEPT_OUTPUT_CHARS) : text;
}

/**
 * Runs a `warren` command (`node bin/warren.js …`, the built CLI) and starts it again whenever it exits, the way
 * systemd's `Restart=always` or a container runtime does, counting the restarts.
 *
 * Each run leads a process group of its own, and the supervisor takes the whole group down when it stops, and
 * when the test process exits without stopping it (a failed test); a run whose test process was killed kills
 * itself: no run outlives the test.
 *
 * @example
 * const supervisor = new WarrenSupervisor({ args: ['start', '--handlers', 'test/fixtures/crash-handlers.ts'] });
 * supervisor.start();
 * await supervisor.waitForStarted();
 * // …
 * await supervisor.stop();
 */
export class WarrenSupervisor {
  readonly #options: SupervisorOptions;
  readonly #runs: Run[] = [];
  #state: 'idle' | 'supervising' | 'stopping' | 'stopped' = 'idle';
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped: Promise<number | string | undefined> | undefined;
  /** The run {@link stop} ended: its exit is not a crash. */
  #stoppedRun: Run | undefined;
  /** Synchronous on purpose: it also runs in the test process's `exit` event, where nothing asynchronous runs. */
  readonly #killAll = (): void => {
    for (const run of this.#runs) if (run.alive) run.signal('SIGKILL');
  };

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Every run so far, in order. */
  get runs(): readonly SupervisedRun[] {
    return this.#runs;
  }

  /** Runs started after an exit. */
  get restarts(): number {
    return Math.max(0, this.#runs.length - 1);
  }

  /** Exit codes (or signal names) of the runs that ended while supervised, in order; not the one {@link stop} ends. */
  get exits(): ReadonlyArray<number | string> {
    return this.#runs.filter((run) => !run.alive && run !== this.#stoppedRun).map((run) => run.exit as number | string);
  }

  /** The latest run. */
  get current(): SupervisedRun | undefined {
    return this.#runs.at(-1);
  }

  /** True once `maxRuns` runs have been made and the last has exited: nothing will restart it. */
  get gaveUp(): boolean {
    const last = this.#runs.at(-1);
    return this.#runs.length >= this.#maxRuns && last !== undefined && !last.alive;
  }

  get #maxRuns(): number {
    return this.#options.maxRuns ?? 20;
  }

  /** Starts the first run. */
  start(): this {
    if (this.#state !== 'idle') throw new Error(`the supervisor is ${this.#state}`);
    this.#state = 'supervising';
    process.on('exit', this.#killAll);
    this.#spawn();
    return this;
  }

  /** Waits until the current run (or, after an exit, the next one) says its consumers run. */
  async waitForStarted(timeoutMs = 30_000): Promise<SupervisedRun> {
    await waitFor(
      'the supervised warren to start',
      () => {
        const run = this.#runs.at(-1);
        return run !== undefined && run.alive && run.startedAt !== undefined;
      },
      timeoutMs,
    ).catch((error: unknown) => {
      const run = this.#runs.at(-1);
      throw new Error(
        `${(error as Error).message} (runs ${this.#runs.length}, exits ${JSON.stringify(this.exits)}; ` +
          `last stderr: ${run?.stderr().slice(-1_000) ?? 'none'})`,
        { cause: error },
      );
    });
    return this.#runs.at(-1) as Run;
  }

  /**
   * Stops restarting, ends the current run with SIGTERM (warren drains and exits) and, after `graceMs`, kills
   * it and its process group. Resolves with the current run's exit (undefined when none ran).
   * Idempotent: every caller awaits the same stop.
   */
  stop(graceMs = 15_000): Promise<number | string | undefined> {
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<number | string | undefined> {
    this.#state = 'stopping';
    clearTimeout(this.#restartTimer);
    const run = this.#runs.at(-1);
    let exit: number | string | undefined = run?.exit;
    if (run?.alive) {
      this.#stoppedRun = run;
      run.signal('SIGTERM');
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
      const ended = await Promise.race([run.exited, timer]);
      exit = ended === 'timeout' ? undefined : ended;
    }
    // Anything still alive (a run deaf to SIGTERM) goes now, with its group. Only live runs: the id of a group
    // whose leader has been reaped may already name someone else's.
    this.#killAll();
    await Promise.all(this.#runs.map((each) => each.exited));
    process.off('exit', this.#killAll);
    this.#state = 'stopped';
    return exit;
  }

  #spawn(): void {
    const { args, env = {}, nodeFlags = [] } = this.#options;
    const child = spawn(process.execPath, [ORPHAN_GUARD, ...nodeFlags, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, WARREN_AMQP_URL: AMQP_URL, WARREN_HTTP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own: stop() and the exit hook signal the group, not just the node process.
      detached: true,
    });
    const run = new Run(this.#runs.length, child);
    this.#runs.push(run);
    void run.exited.then(() => {
      if (this.#state !== 'supervising' || this.#runs.length >= this.#maxRuns) return;
      this.#restartTimer = setTimeout(() => {
        if (this.#state === 'supervising') this.#spawn();
      }, this.#options.restartDelayMs ?? 0);
    });
  }
}
