import { Command, InvalidArgumentError, Option } from 'commander';
import { WarrenClient } from '../client/client.js';
import { parseDuration } from '../config/duration.js';
import { quietContext } from './cli-context.js';

/** `warren publish <jobType> <json>`. */
export function publishCommand(): Command {
  return new Command('publish')
    .description('Publish one job and wait for the broker to confirm it; prints its message id')
    .argument('<jobType>', 'job type (the routing key), e.g. email.send')
    .argument('<json>', 'the payload, as JSON', parseJson)
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
      '\nExits 1 with a message when the job is unroutable (no queue for the job type) or rejected.',
    )
    .action(
      async (
        jobType: string,
        payload: unknown,
        options: { id?: string; json?: boolean; delay?: number; at?: Date },
      ) => {
        const { config, logger } = quietContext();
        const client = new WarrenClient({ config, logger, connectTimeoutMs: 5_000 });
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
}
