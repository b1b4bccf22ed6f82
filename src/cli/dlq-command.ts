import { Command, InvalidArgumentError, Option } from 'commander';
import type { DeadLetterContext } from '../dlq/dead-letter-context.js';
import { DeadLetterAdmin, type DeadLetterQueueStats } from '../dlq/dead-letter-admin.js';
import {
  DEFAULT_MAX_UNCONFIRMED,
  DEFAULT_SCAN_LIMIT,
  DeadLetterReplay,
  type LegacyLedger,
  type ReplayPlan,
  type ReplaySummary,
} from '../dlq/dead-letter-replay.js';
import type { ReplayProgress } from '../dlq/dead-letter-replay-options.js';
import { deadQueue } from '../topology/names.js';
import { legacyDeadLetterQueueWarning } from '../topology/topology-plan.js';
import { loadRegistry, printConnectRetry, quietContext, requireValidJobType } from './cli-context.js';

/** Characters of a body shown by `dlq peek` without `--json`. */
const BODY_PREVIEW_CHARS = 200;

/** Hooks of the `warren dlq` commands, for a program that embeds the CLI (tests inject faults through them). */
export interface DlqCommandHooks {
  /** Passed to {@link DeadLetterReplay} by `warren dlq replay`: see `DeadLetterReplayOptions#afterConfirm`. */
  readonly afterReplayConfirm?: (confirmed: number) => void;
}

/** `warren dlq list|peek|replay|purge`. */
export function dlqCommand(hooks: DlqCommandHooks = {}): Command {
  return new Command('dlq')
    .description('Inspect, replay and purge the dead-letter queues of your job types')
    .addHelpText(
      'after',
      '\nEach job type has a dead-letter queue <namespace>.dead.<jobType> holding the jobs that failed for good, with\n' +
        'their error context in x-warren-* headers (see docs/dead-letters.md).\n' +
        'Examples:\n  warren dlq list\n  warren dlq peek email.send --limit 5\n  warren dlq replay email.send --dry-run\n' +
        '  warren dlq replay email.send\n  warren dlq purge email.send --yes',
    )
    .addCommand(listCommand())
    .addCommand(peekCommand())
    .addCommand(replayCommand(hooks))
    .addCommand(purgeCommand());
}

function listCommand(): Command {
  return new Command('list')
    .description('Show the dead-letter queue of every registered job type and how many messages it holds')
    .option('--handlers <module>', 'handlers module (default: handlers/index.{js,mjs,cjs,ts,mts,cts})')
    .option('--json', 'print [{"jobType", "queue", "messages", "declared"}] as JSON')
    .addHelpText(
      'after',
      '\nA dead-letter queue not declared yet (no worker has run for the job type) shows 0 messages, declared: false.',
    )
    .action(async (options: { handlers?: string; json?: boolean }) => {
      const { config, logger } = quietContext();
      const { registry, path } = await loadRegistry(options.handlers, config);
      const admin = new DeadLetterAdmin({ config, logger, onConnectRetry: printConnectRetry });
      try {
        await admin.start();
        const stats = await admin.list(registry.list().map((job) => job.jobType));
        process.stdout.write(options.json ? `${JSON.stringify(stats, null, 2)}\n` : formatQueueTable(stats, path));
      } finally {
        await admin.close();
      }
    });
}

function peekCommand(): Command {
  return new Command('peek')
    .description('Show dead letters with their error context without removing them')
    .argument('<jobType>', 'job type, e.g. email.send')
    .option('--limit <n>', 'most dead letters to show, from the head of the queue', positiveInteger, 10)
    .option('--json', 'print an array with every field, the full body and the stack trace')
    .addHelpText(
      'after',
      '\nThe messages are fetched unacknowledged and given back at once: the queue keeps them however often they are\n' +
        'read (dead-letter queues carry an x-delivery-limit no reads can reach). What is given back goes ahead of what\n' +
        'was never read, behind what was read before: a smaller --limit than an earlier read moves the dead letters it\n' +
        'shows behind the others that read gave back. A dead-letter queue declared by an earlier warren is named on\n' +
        'stderr with the fix.',
    )
    .action(async (jobType: string, options: { limit: number; json?: boolean }) => {
      requireValidJobType(jobType); // before connecting: a typo need not wait for the broker
      const { config, logger } = quietContext();
      const admin = new DeadLetterAdmin({ config, logger, onConnectRetry: printConnectRetry });
      try {
        await admin.start();
        // Counted first: what a peek gives back is counted again only once the broker has taken it back.
        const inQueue = await admin.count(jobType);
        const contexts = await admin.peek(jobType, options.limit);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(contexts, null, 2)}\n`
            : formatPeek(contexts, deadQueue(config.namespace, jobType), inQueue),
        );
        if (await admin.lacksDeliveryLimit(jobType)) {
          const queue = deadQueue(config.namespace, jobType);
          process.stderr.write(`warren: ${legacyDeadLetterQueueWarning(queue, config.namespace)}\n`);
        }
      } finally {
        await admin.close();
      }
    });
}

function replayCommand(hooks: DlqCommandHooks): Command {
  return new Command('replay')
    .description("Move dead letters back to the job's queue, attempts reset, each removed once its copy is confirmed")
    .argument('<jobType>', 'job type, e.g. email.send')
    .option(
      '--limit <n>',
      'most dead letters to replay (default: all those in the queue when the replay starts)',
      positiveInteger,
    )
    .addOption(
      new Option(
        '--id <messageId>',
        `replay only the dead letter with this message id (repeat for more; the first of each among the first ${DEFAULT_SCAN_LIMIT})`,
      )
        .argParser(collect)
        .conflicts('limit'),
    )
    .option('--dry-run', 'list what would be replayed; change nothing')
    .option('--json', 'print the summary (or, with --dry-run, the plan) as JSON')
    .addHelpText(
      'after',
      '\nEach dead letter is republished to its job queue with its message id, body and type, without its failure\n' +
        'headers (the handler sees attempt 1), and removed from the dead-letter queue only once RabbitMQ has confirmed\n' +
        'its copy. A copy RabbitMQ refuses (a job queue at its length limit) or does not confirm in time leaves its\n' +
        'dead letter in place and stops the replay, which says why and exits 1. Nothing is lost. What can repeat: a\n' +
        `replay killed or cut off can leave up to ${DEFAULT_MAX_UNCONFIRMED} dead letters whose copies already reached the job queue, and\n` +
        'the next replay sends those again, with the same message id (an idempotent job skips a copy whose id already\n' +
        'succeeded). Progress goes to stderr, the summary to stdout. SIGINT or SIGTERM stops it cleanly.\n' +
        `With --id (at most ${DEFAULT_MAX_UNCONFIRMED} ids), the first ${DEFAULT_SCAN_LIMIT} dead letters are looked through and the others left as\n` +
        'they are; an id not found there is named, and the command exits 1.',
    )
    .action(async (jobType: string, options: { limit?: number; id?: string[]; dryRun?: boolean; json?: boolean }) => {
      requireValidJobType(jobType); // before connecting: a typo need not wait for the broker
      const { config, logger } = quietContext();
      const limit = {
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(options.id === undefined ? {} : { messageIds: options.id }),
      };
      if (options.dryRun) {
        const plan = await new DeadLetterReplay({
          config,
          logger,
          jobType,
          ...limit,
          onConnectRetry: printConnectRetry,
        }).plan();
        if (!plan.queueDeclared) {
          process.stderr.write(
            `warren: ${plan.queue} does not exist: a replay of "${jobType}" would stop without replaying anything\n`,
          );
        }
        process.stdout.write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
        if ((plan.notFound?.length ?? 0) > 0) process.exitCode = 1;
        return;
      }

      const controller = new AbortController();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals > 1) {
          process.stderr.write(`warren: ${signal} again, exiting now; run the replay again to finish it\n`);
          process.exit(1);
        }
        process.stderr.write(`warren: ${signal}: finishing the republishes in flight, then stopping\n`);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const printer = progressPrinter();
      try {
        const summary = await new DeadLetterReplay({
          config,
          logger,
          jobType,
          ...limit,
          onConnectRetry: printConnectRetry,
          signal: controller.signal,
          onProgress: printer,
          ...(hooks.afterReplayConfirm ? { afterConfirm: hooks.afterReplayConfirm } : {}),
        }).run();
        const ledger = legacyLedgerNote(summary.legacyLedger);
        if (ledger !== undefined) process.stderr.write(`warren: ${ledger}\n`);
        if (summary.failure) process.stderr.write(`warren: the replay stopped: ${summary.failure.message}\n`);
        process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
        // Dead letters a copy failed for are still there, or some asked for were not found: a script must not read
        // this run as done.
        if (summary.failure || (summary.notFound?.length ?? 0) > 0) process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

function purgeCommand(): Command {
  return new Command('purge')
    .description("Delete every message in a job type's dead-letter queue")
    .argument('<jobType>', 'job type, e.g. email.send')
    .option('--yes', 'really delete them (without it, only says how many there are and exits 1)')
    .option('--json', 'print {"jobType", "queue", "purged"} as JSON')
    .action(async (jobType: string, options: { yes?: boolean; json?: boolean }) => {
      requireValidJobType(jobType); // before connecting: a typo need not wait for the broker
      const { config, logger } = quietContext();
      const admin = new DeadLetterAdmin({ config, logger, onConnectRetry: printConnectRetry });
      const queue = deadQueue(config.namespace, jobType);
      try {
        await admin.start();
        if (!options.yes) {
          const count = await admin.count(jobType);
          process.stderr.write(
            `warren: ${queue} holds ${plural(count, 'dead letter')} of "${jobType}"; nothing was deleted. ` +
              `Run again with --yes to delete ${count === 1 ? 'it' : 'them'}\n`,
          );
          process.exitCode = 1;
          return;
        }
        const purged = await admin.purge(jobType);
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ jobType, queue, purged })}\n`
            : `purged ${plural(purged, 'dead letter')} of "${jobType}" from ${queue}\n`,
        );
      } finally {
        await admin.close();
      }
    });
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError('must be a whole number, 1 or more');
  }
  return value;
}

/** Collects a repeated option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Prints `replayed 40/120` on stderr about ten times per replay, and at the end. */
function progressPrinter(): (progress: ReplayProgress) => void {
  return ({ replayed, total }) => {
    const step = Math.min(1_000, Math.max(1, Math.ceil(total / 10)));
    if (replayed % step !== 0 && replayed !== total) return;
    process.stderr.write(`replayed ${replayed}/${total}\n`);
  };
}

/** `warren dlq list` as a table; `module` is the handlers module, named when it registers no job types. */
export function formatQueueTable(stats: readonly DeadLetterQueueStats[], module?: string): string {
  if (stats.length === 0) return `no job types are registered${module === undefined ? '' : ` in ${module}`}\n`;
  const rows = [
    ['JOB TYPE', 'DEAD-LETTER QUEUE', 'MESSAGES'],
    ...stats.map((s) => [s.jobType, s.queue, s.declared ? String(s.messages) : '0 (not declared)']),
  ];
  const widths = [0, 1].map((column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return `${rows.map(([jobType = '', queue = '', messages = '']) => `${jobType.padEnd(widths[0] ?? 0)}  ${queue.padEnd(widths[1] ?? 0)}  ${messages}`.trimEnd()).join('\n')}\n`;
}

/** `warren dlq peek` for a person: one block per dead letter, the body cut short. */
export function formatPeek(contexts: readonly DeadLetterContext[], queue: string, inQueue: number): string {
  if (contexts.length === 0) return `${queue} is empty\n`;
  const blocks = contexts.map((c, index) => {
    const lines = [`#${index + 1}  ${c.messageId ?? '(no message id)'}  ${c.reason ?? 'unknown reason'}${tally(c)}`];
    const field = (name: string, value: string | undefined): void => {
      if (value !== undefined) lines.push(`  ${`${name}:`.padEnd(12)}${value}`);
    };
    field(
      'error',
      c.errorName === undefined && c.errorMessage === undefined
        ? undefined
        : `${c.errorName ?? 'Error'}: ${c.errorMessage ?? ''}`,
    );
    field(
      'failed',
      c.firstFailureAt === undefined || c.firstFailureAt === c.lastFailureAt
        ? c.lastFailureAt
        : `first ${c.firstFailureAt}, last ${c.lastFailureAt ?? '?'}`,
    );
    field(
      'from',
      c.originalQueue === undefined
        ? undefined
        : `${c.originalQueue}${c.originalRoutingKey === undefined ? '' : ` (routing key ${c.originalRoutingKey})`}`,
    );
    field(
      'worker',
      c.workerHost === undefined
        ? undefined
        : `${c.workerHost}${c.workerPid === undefined ? '' : ` pid ${c.workerPid}`}`,
    );
    field('replay of', c.replayOf);
    const body =
      c.body.length > BODY_PREVIEW_CHARS ? `${c.body.slice(0, BODY_PREVIEW_CHARS)}… (${c.bodyBytes} bytes)` : c.body;
    field('body', c.bodyEncoding === 'base64' ? `(binary, base64) ${body}` : body);
    return lines.join('\n');
  });
  const more = inQueue > contexts.length ? `; ${inQueue - contexts.length} more in the queue` : '';
  return `${blocks.join('\n\n')}\n\n${plural(contexts.length, 'dead letter')} shown, all still in ${queue}${more} (--json for stacks and full bodies)\n`;
}

/**
 * `, 3 attempts`; for a dead letter the broker took past the delivery limit, how often it was delivered (`, delivered
 * 6 times`), with the last attempt when that differs (it had been retried before it started crashing).
 */
function tally(c: DeadLetterContext): string {
  if (c.deliveries !== undefined) {
    const last = c.attempts !== undefined && c.attempts !== c.deliveries ? `, last attempt ${c.attempts}` : '';
    return `, delivered ${plural(c.deliveries, 'time')}${last}`;
  }
  return c.attempts === undefined ? '' : `, ${plural(c.attempts, 'attempt')}`;
}

/** `warren dlq replay --dry-run` for a person. */
export function formatPlan(plan: ReplayPlan): string {
  const lines = plan.entries.map(
    ({ context: c }) =>
      `  ${c.messageId ?? '(no message id)'}  ${c.reason ?? 'unknown reason'}  ${c.lastFailureAt ?? ''}`,
  );
  const ledger = plan.legacyLedger;
  const note =
    ledger === undefined
      ? ''
      : ledger.messages === 0
        ? `${ledger.queue}, the empty replay ledger of an earlier warren version, would be deleted\n`
        : `${legacyLedgerNote(ledger)}\n`;
  return (
    `dry run: would replay ${plural(plan.entries.length, 'dead letter')} of "${plan.jobType}" to ${plan.queue}` +
    ` (${plan.deadLetters} in ${plan.deadLetterQueue}); nothing was changed\n` +
    (lines.length > 0 ? `${lines.join('\n')}\n` : '') +
    (plan.notFound && plan.notFound.length > 0 ? `${notFoundNote(plan.notFound)}\n` : '') +
    note
  );
}

/** What to tell about an earlier version's replay ledger: deleted when it was empty, otherwise left and named. */
function legacyLedgerNote(ledger: LegacyLedger | undefined): string | undefined {
  if (ledger === undefined) return undefined;
  if (ledger.deleted) return `deleted ${ledger.queue}, the empty replay ledger of an earlier warren version`;
  return (
    `${ledger.queue}, the replay ledger of an earlier warren version, holds ${plural(ledger.messages, 'message')}: ` +
    'copies of dead letters that version replayed. Replays no longer read or write it; delete it once you no longer ' +
    'need them (see docs/dead-letters.md)'
  );
}

/** The line `warren dlq replay` ends with. */
export function formatSummary(summary: ReplaySummary): string {
  const { rejected, unroutable, indeterminate, queue } = summary;
  const failed = [
    rejected > 0 ? `${rejected} refused by RabbitMQ` : '',
    unroutable > 0 ? `${unroutable} returned unroutable` : '',
    indeterminate > 0
      ? `${indeterminate} not confirmed (${indeterminate === 1 ? 'its copy' : 'their copies'} may be in ${queue} as well: a rerun sends ${indeterminate === 1 ? 'it' : 'them'} again)`
      : '',
  ].filter((part) => part !== '');
  const stopped = summary.interrupted ? ' (stopped early)' : summary.failure ? ' (stopped at the first failure)' : '';
  const missing = summary.notFound && summary.notFound.length > 0 ? `; ${notFoundNote(summary.notFound)}` : '';
  return (
    `replayed ${plural(summary.replayed, 'dead letter')} of "${summary.jobType}" to ${queue}` +
    failed.map((part) => `; ${part}`).join('') +
    `; ${summary.remaining} left in ${summary.deadLetterQueue}${stopped}${missing}\n`
  );
}

/** `not found: a, b (looked through the first 1000 dead letters)` */
function notFoundNote(ids: readonly string[]): string {
  return `not found: ${ids.join(', ')} (among the dead letters looked through: the first ${DEFAULT_SCAN_LIMIT})`;
}
