import { Command, CommanderError } from 'commander';
import { dlqCommand, type DlqCommandHooks } from './dlq-command.js';
import { publishCommand } from './publish-command.js';
import { schedulerCommand, startCommand } from './start-command.js';
import { schedulesCommand } from './schedules-command.js';
import { topologyCommand } from './topology-command.js';
import { uiCommand } from './ui-command.js';
import { VERSION } from './version.js';

/** What a program that embeds the CLI may pass in: hooks of its commands. */
export type ProgramOptions = DlqCommandHooks;

/** Builds the `warren` command (no side effects until parsed). */
export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command('warren')
    .description(
      'Background jobs on RabbitMQ: run handlers and schedules, publish jobs, inspect topology and dead letters.',
    )
    .version(VERSION, '-v, --version')
    // `warren topology -v` is an unknown option of `topology`, not a request for warren's version.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nSettings come from config/warren.json and WARREN_* environment variables (see the README).\n' +
        'Examples:\n  warren start\n  warren publish email.send \'{"to":"a@example.com","subject":"Hi","body":"Hello"}\'\n  warren topology --json',
    );
  program.addCommand(startCommand());
  program.addCommand(schedulerCommand());
  program.addCommand(schedulesCommand());
  program.addCommand(publishCommand());
  program.addCommand(topologyCommand());
  program.addCommand(dlqCommand(options));
  program.addCommand(uiCommand());
  return program;
}

/** Runs the CLI; the only place warren sets an exit code. */
export async function main(argv: readonly string[], options: ProgramOptions = {}): Promise<void> {
  const program = buildProgram(options).exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`warren: ${describeError(error)}\n`);
    // Exit now: a half-started worker may hold timers or sockets that would keep the process alive.
    process.exit(1);
  }
}

/** One line for a user: warren's own errors by their message, anything else with its name too. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('WARREN_ERR_') ? error.message : `${error.name}: ${error.message}`;
}
