import { setTimeout as sleep } from 'node:timers/promises';
import { startPrivateBroker, type PrivateBroker, type PrivateBrokerVersion } from './private-broker.js';

/** A RabbitMQ cluster of private nodes (same Erlang cookie, `join_cluster`), on private ports, for failover tests. */
export interface PrivateCluster {
  readonly version: PrivateBrokerVersion;
  readonly nodes: readonly PrivateBroker[];
  /** Every node's URL, comma-separated: the `amqpUrl` setting of a client of the cluster. */
  readonly amqpUrl: string;
  /** The node listening on `port`, if it is one of the cluster's. */
  nodeOnPort(port: number): PrivateBroker | undefined;
  /** The Erlang node name of a quorum queue's leader, as a running node reports it. */
  leaderOf(queue: string): Promise<string | undefined>;
  /** A quorum queue's leader and members (Erlang node names), as a running node reports them. */
  queueReplicas(queue: string): Promise<{ leader: string; members: string[] } | undefined>;
  /** Stops every node. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPrivateCluster}. */
export interface PrivateClusterOptions {
  /** @defaultValue 3 */
  readonly size?: number;
  /** @defaultValue '3.10' */
  readonly version?: PrivateBrokerVersion;
}

/**
 * Starts `size` private nodes at once and joins the others to the first (`stop_app`, `join_cluster`,
 * `start_app`), then waits until every node sees them all running.
 */
export async function startPrivateCluster(options: PrivateClusterOptions = {}): Promise<PrivateCluster> {
  const size = options.size ?? 3;
  const version = options.version ?? '3.10';
  const started = await Promise.allSettled(Array.from({ length: size }, () => startPrivateBroker({ version })));
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [first, ...others] = nodes as [PrivateBroker, ...PrivateBroker[]];
  try {
    for (const node of others) {
      await node.ctl(['stop_app']);
      await node.ctl(['join_cluster', first.nodeName], 60_000);
      await node.startApp();
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await first.ctl(['cluster_status', '--formatter', 'json']);
      const running = (JSON.parse(status) as { running_nodes?: string[] }).running_nodes ?? [];
      if (nodes.every((node) => running.includes(node.nodeName))) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not form: running ${running.join(', ')}`);
      await sleep(250);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const replicas = async (queue: string): Promise<{ leader: string; members: string[] } | undefined> => {
    for (const node of nodes) {
      try {
        const rows = await node.ctl(['list_queues', '--formatter', 'json', 'name', 'leader', 'members'], 15_000);
        const found = (JSON.parse(rows) as Array<{ name: string; leader: string; members: string[] }>).find(
          (row) => row.name === queue,
        );
        return found && { leader: found.leader, members: found.members };
      } catch {
        // That node is stopped: ask the next.
      }
    }
    return undefined;
  };
  let stopping: Promise<void> | undefined;
  return {
    version,
    nodes,
    amqpUrl: nodes.map((node) => node.url).join(','),
    nodeOnPort: (port) => nodes.find((node) => node.port === port),
    async leaderOf(queue) {
      return (await replicas(queue))?.leader;
    },
    queueReplicas: replicas,
    stop: () => (stopping ??= stop()),
  };
}
