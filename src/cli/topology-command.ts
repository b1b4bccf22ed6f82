import { Command } from 'commander';
import type { ChannelModel } from 'amqplib';
import { settingSource } from '../config/load-config.js';
import { BrokerConnection } from '../connection/broker-connection.js';
import { declareTopology } from '../topology/declare-topology.js';
import { plannedJobs } from '../retry/retry-policy.js';
import { legacyDeadLetterQueueWarning, planTopology, type TopologyPlan } from '../topology/topology-plan.js';
import { loadRegistry, printConnectRetry, quietContext } from './cli-context.js';

/** `warren topology [--apply] [--json]`. */
export function topologyCommand(): Command {
  return new Command('topology')
    .description('Print the exchanges, queues, bindings and arguments warren declares for the registered handlers')
    .option('--handlers <module>', 'handlers module (default: handlers/index.{js,mjs,cjs,ts,mts,cts})')
    .option(
      '--apply',
      'declare them on the broker (idempotent; fails naming any queue that exists with other arguments)',
    )
    .option('--json', 'print the plan as JSON')
    .action(async (options: { handlers?: string; apply?: boolean; json?: boolean }) => {
      const { config, logger } = quietContext();
      const { registry } = await loadRegistry(options.handlers, config);
      const plan = planTopology(config, plannedJobs(registry.list(), config));
      if (options.apply) {
        const connection = new BrokerConnection({
          url: config.amqpUrl,
          urlSource: settingSource(config, 'amqpUrl'),
          purpose: 'admin',
          heartbeatSeconds: config.heartbeatSeconds,
          logger,
          onConnectRetry: printConnectRetry,
        });
        await connection.start(5_000);
        try {
          const model = connection.manager.connection as ChannelModel;
          const channel = await model.createChannel();
          channel.on('error', () => {});
          const { legacyQueues } = await declareTopology(channel, plan, model);
          await channel.close();
          for (const queue of legacyQueues) {
            process.stderr.write(`warren: ${legacyDeadLetterQueueWarning(queue.name, config.namespace)}\n`);
          }
        } finally {
          await connection.close();
        }
      }
      process.stdout.write(
        options.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan, options.apply === true),
      );
    });
}

/** The plan as text, one line per exchange, queue and binding. */
export function formatPlan(plan: TopologyPlan, applied: boolean): string {
  const lines = [applied ? 'declared:' : 'warren declares (use --apply to declare):', 'exchanges'];
  for (const e of plan.exchanges) lines.push(`  ${e.name} (${e.type}, durable)`);
  lines.push('queues');
  for (const q of plan.queues) {
    const args = Object.entries(q.arguments)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const of = q.role === 'retry' ? 'retry tier' : `${q.role} queue of ${q.jobType}`;
    lines.push(`  ${q.name} (${of}, durable) ${args}`);
  }
  lines.push('bindings');
  for (const b of plan.bindings) lines.push(`  ${b.exchange} --[${b.routingKey}]--> ${b.queue}`);
  return `${lines.join('\n')}\n`;
}
