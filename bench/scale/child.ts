import { spawn } from 'node:child_process';

/** A finished child process: its output, its wall time, and its stderr lines with the time each arrived. */
export interface ChildRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Spawn → exit, in milliseconds. */
  readonly wallMs: number;
  /** Every stderr line, with the milliseconds since the spawn at which it arrived. */
  readonly lines: ReadonlyArray<{ readonly atMs: number; readonly text: string }>;
  readonly timedOut: boolean;
}

/** How to run a child. */
export interface ChildOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** SIGKILL after this. */
  readonly timeoutMs: number;
  /** SIGKILL when this aborts. */
  readonly signal?: AbortSignal;
}

let current: ReturnType<typeof spawn> | undefined;

/** The child running now, for the runner's SIGINT handler. */
export function runningChild(): ReturnType<typeof spawn> | undefined {
  return current;
}

/**
 * Runs `command args` to its end. Stderr lines are timestamped as they arrive (a child's writes to a pipe are
 * synchronous on Linux, so each arrives when it was written, give or take the runner's event loop).
 */
export async function runChild(command: string, args: readonly string[], options: ChildOptions): Promise<ChildRun> {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  current = child;
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: Array<{ atMs: number; text: string }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const atMs = performance.now() - started;
    stderr += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ atMs, text });
  });
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  options.signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
  const code = await new Promise<number | null>((done) => {
    child.on('error', () => done(null));
    child.on('close', (exitCode) => done(exitCode));
  });
  clearTimeout(killer);
  current = undefined;
  const wallMs = performance.now() - started;
  if (partial !== '') lines.push({ atMs: wallMs, text: partial });
  return { code, stdout, stderr, wallMs, lines, timedOut };
}

/** The last stdout line of a trial as its JSON result, or a failure saying why there is none. */
export function trialOutput<T>(run: ChildRun): { result: T } | { error: string } {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: { ok?: boolean; error?: string } | undefined;
  try {
    parsed = JSON.parse(line) as { ok?: boolean; error?: string };
  } catch {
    parsed = undefined;
  }
  if (run.code === 0 && parsed?.ok === true) return { result: parsed as T };
  const why = run.timedOut ? 'killed after its time limit' : `exit ${String(run.code)}`;
  return {
    error: parsed?.error ?? `${why}: ${run.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output'}`,
  };
}
