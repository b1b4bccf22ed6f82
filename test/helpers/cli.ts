import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AMQP_URL, waitFor } from './broker.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/warren.js', import.meta.url));

/** A `warren` process, with its output collected. */
export interface WarrenProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Waits until stdout or stderr matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** What runs the CLI instead of `bin/warren.js`: node's arguments before warren's (a fixture with a fault injected). */
export type WarrenEntry = readonly string[];

/** `warren` with `warren dlq replay` SIGKILLing itself after its `n`th confirmed republish, before that ack. */
export function crashingReplayEntry(n: number): WarrenEntry {
  return ['--import', 'tsx', fileURLToPath(new URL('../fixtures/warren-crash-after.ts', import.meta.url)), String(n)];
}

/**
 * Runs `node bin/warren.js …args` with the test broker and the given environment; `input`, when given, is its stdin,
 * and `entry` replaces `bin/warren.js`.
 */
export function spawnWarren(
  args: readonly string[],
  env: Record<string, string> = {},
  { input, entry = [BIN] }: { input?: string | Buffer; entry?: WarrenEntry } = {},
): WarrenProcess {
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, WARREN_AMQP_URL: AMQP_URL, WARREN_HTTP_PORT: '0', ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(input);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput: (pattern, timeoutMs = 20_000) =>
      waitFor(
        `output matching ${pattern} (stdout: ${out.slice(-500)} stderr: ${err.slice(-500)})`,
        () => pattern.test(out) || pattern.test(err),
        timeoutMs,
      ),
  };
}

/** Runs a `warren` command to completion. */
export async function runWarren(
  args: readonly string[],
  env: Record<string, string> = {},
  options: { input?: string | Buffer; entry?: WarrenEntry } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const proc = spawnWarren(args, env, options);
  const code = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Parses pino JSON lines from stdout. */
export function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
