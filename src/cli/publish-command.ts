import { Command, InvalidArgumentError } from 'commander';
import { WarrenClient } from '../client/client.js';
import { quietContext } from './cli-context.js';

/** `warren publish <jobType> <json>`. */
export function publishCommand(): Command {
  return new Command('publish')
    .description('Publish one job and wait for the broker to confirm it; prints its message id')
    .argument('<jobType>', 'job type (the routing key), e.g. email.send')
    .argument('<json>', 'the payload, as JSON', parseJson)
    .option('--id <messageId>', 'message id to use (default: a new UUID)')
    .option('--json', 'print {"messageId", "jobType"} as JSON')
    .addHelpText('after', '\nExits 1 with a message when the job is unroutable (no queue for the job type) or rejected.')
    .action(async (jobType: string, payload: unknown, options: { id?: string; json?: boolean }) => {
      const { config, logger } = quietContext();
      const client = new WarrenClient({ config, logger, connectTimeoutMs: 5_000 });
      try {
        await client.start();
        const messageId = await client.publish(jobType, payload, options.id === undefined ? {} : { messageId: options.id });
        process.stdout.write(options.json ? `${JSON.stringify({ messageId, jobType })}\n` : `${messageId}\n`);
      } finally {
        await client.close();
      }
    });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
}
