import { Command } from 'commander';
import type { Redis } from 'ioredis';
import { WarrenClient } from '../client/client.js';
import { createRedis } from '../redis/create-redis.js';
import { Scheduler, type ScheduleStatus } from '../scheduler/scheduler.js';
import { loadSchedules, printConnectRetry, quietContext } from './cli-context.js';

/** `warren schedules [--json]` and `warren schedules trigger <name>`. */
export function schedulesCommand(): Command {
  const command = new Command('schedules')
    .description('List the schedules with their next three fire times and last fire')
    // Options of `schedules` only before `trigger`: otherwise `schedules trigger x --handlers m` hands
    // `--handlers` to the list, and `trigger` never sees it. `trigger` reads both (see optsWithGlobals below).
    .enablePositionalOptions()
    .option('--handlers <module>', 'module whose `schedules` export to add (default: handlers/index.* if present)')
    .option('--json', 'print the list as JSON')
    .action(async (options: { handlers?: string; json?: boolean }) => {
      const { config, logger } = quietContext();
      const { schedules, whyNone } = await loadSchedules(options.handlers, config);
      const redis = await connectRedis(config.redisUrl, logger);
      try {
        const scheduler = new Scheduler({
          namespace: config.namespace,
          schedules,
          publish: () => Promise.reject(new Error('listing publishes nothing')),
          redis,
          fireLockTtlMs: config.fireLockTtlMs,
          logger,
        });
        const list = await scheduler.describe();
        process.stdout.write(options.json ? `${JSON.stringify(list, null, 2)}\n` : formatSchedules(list, whyNone));
      } finally {
        redis?.disconnect();
      }
    });
  command
    .command('trigger')
    .description('Publish one job of a schedule now (message id <name>@<now>), without waiting for its fire time')
    .argument('<name>', 'the schedule')
    .option('--handlers <module>', 'module whose `schedules` export to add')
    .option('--json', 'print {"messageId", "schedule", "jobType"} as JSON')
    .action(async (name: string, _options: unknown, trigger: Command) => {
      // `warren schedules --handlers m trigger x` gives the option to `schedules`: read both, trigger's first.
      const options = trigger.optsWithGlobals<{ handlers?: string; json?: boolean }>();
      const { config, logger } = quietContext();
      const { schedules } = await loadSchedules(options.handlers, config);
      const client = new WarrenClient({ config, logger, connectTimeoutMs: 5_000, onConnectRetry: printConnectRetry });
      try {
        const scheduler = new Scheduler({
          namespace: config.namespace,
          schedules,
          publish: (jobType, payload, publishOptions) => client.publish(jobType, payload, publishOptions),
          redis: undefined,
          fireLockTtlMs: config.fireLockTtlMs,
          logger,
        });
        const schedule = schedules.find((s) => s.name === name);
        if (schedule === undefined) await scheduler.trigger(name); // throws naming the known ones
        await client.start();
        const messageId = await scheduler.trigger(name);
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ messageId, schedule: name, jobType: schedule?.jobType })}\n`
            : `${messageId}\n`,
        );
      } finally {
        await client.close();
      }
    });
  return command;
}

async function connectRedis(url: string, logger: Parameters<typeof createRedis>[1]): Promise<Redis | undefined> {
  if (url === 'none') return undefined;
  const redis = createRedis(url, logger);
  // Last fires are a nicety here: without Redis the list still prints.
  await redis.connect().catch(() => {});
  return redis;
}

/** The list as text; `whyNone` (where schedules were looked for) is said when there are none. */
export function formatSchedules(list: readonly ScheduleStatus[], whyNone?: string): string {
  if (list.length === 0)
    return `no schedules${whyNone === undefined ? '' : `: ${whyNone}`} (add config/schedules.json or export \`schedules\` from the handlers module)\n`;
  return `${list
    .map((s) =>
      [
        `${s.name}: "${s.cron}" (${s.timeZone}) → ${s.jobType}${s.catchUpMs > 0 ? `, catch-up ${s.catchUpMs} ms` : ''}`,
        `  next: ${s.nextFires.join(', ')}`,
        `  last: ${s.lastFire ?? 'never (or not recorded)'}`,
      ].join('\n'),
    )
    .join('\n')}\n`;
}
