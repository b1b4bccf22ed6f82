import { Command, InvalidArgumentError, Option } from 'commander';
import { WarrenClient } from '../client/client.js';
import { parseDuration } from '../config/duration.js';
import { printConnectRetry, quietContext, requireValidJobType } from './cli-context.js';
import { readPayload } from './read-payload.js';

/** `warren publish <jobType> <json | @file | ->`. */
export function publishCommand(): Command {
  return new Command('publish')
    .description('Publish one job and wait for the broker to confirm it; prints its message id')
    .argument('<jobType>', 'job type (the routing key), e.g. email.send')
    .argument('<json>', 'the payload as JSON, @<file> to read it from a file, or - to read it from stdin')
    .option('--id <messageId>', 'message id to use (default: a new UUID)')
    .option(
      '--delay <duration>',
      'deliver no earlier than this from now, e.g. 90s, 15m, 2h (1 s resolution)',
      parseDelay,
    )
    .addOption(
      new Option('--at <time>', 'deliver no earlier than this ISO 8601 time, e.g. 2026-12-24T18:00:00Z')
        .argParser(parseTime)
        .conflicts('delay'),
    )
    .option('--json', 'print {"messageId", "jobType"} as JSON')
    .addHelpText(
      'after',
      '\nA shell passes at most about 128 KiB in one argument: give larger payloads as @<file> or on stdin (-).\n' +
        'Exits 1 with a message when the job type or the payload is not valid, or the job is unroutable (no queue for\n' +
        'the job type) or rejected.\n' +
        'Examples:\n' +
        '  warren publish email.send \'{"to":"a@example.com","subject":"Hi","body":"Hello"}\'\n' +
        '  warren publish report.generate @report.json --id report-2026-01\n' +
        '  curl -s https://example.com/report.json | warren publish report.generate -',
    )
    .action(
      async (jobType: string, json: string, options: { id?: string; json?: boolean; delay?: number; at?: Date }) => {
        // Both checked before connecting: a typo should not wait for the broker, nor reach it.
        requireValidJobType(jobType);
        const payload = await readPayload(json, process.cwd(), process.stdin);
        const { config, logger } = quietContext();
        const client = new WarrenClient({ config, logger, connectTimeoutMs: 5_000, onConnectRetry: printConnectRetry });
        try {
          await client.start();
          const messageId = await client.publish(jobType, payload, {
            ...(options.id === undefined ? {} : { messageId: options.id }),
            ...(options.delay === undefined ? {} : { delayMs: options.delay }),
            ...(options.at === undefined ? {} : { runAt: options.at }),
          });
          process.stdout.write(options.json ? `${JSON.stringify({ messageId, jobType })}\n` : `${messageId}\n`);
        } finally {
          await client.close();
        }
      },
    );
}

function parseDelay(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 90s, 15m or 2h');
  return ms;
}

function parseTime(text: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(text))
    throw new InvalidArgumentError('expected an ISO 8601 time such as 2026-12-24T18:00:00Z');
  return time;
}
