import { DELAY_LEVELS, delayLevel } from '../../src/topology/names.js';
import { management, vhostOf, type Endpoints } from './namespace.js';

/**
 * The broker's memory, summed over its nodes, from the management API's breakdown (`/api/nodes/<node>/memory`,
 * computed when asked, unlike the statistics the other endpoints serve every 5 s).
 */
export interface NodeMemory {
  /** What the Erlang VM has allocated (`erlang:memory(total)`). */
  readonly erlangBytes: number;
  /** The node's resident set, as the OS counts it (the figure RabbitMQ's memory alarm uses with strategy rss). */
  readonly rssBytes: number;
  /** Quorum queue processes, their dead-letter workers and their ETS tables (the Raft log's tables among them). */
  readonly quorumBytes: number;
  /** Off-heap binaries (message bodies in flight among them). */
  readonly binaryBytes: number;
}

interface MemoryBreakdown {
  readonly memory: Readonly<Record<string, number | Readonly<Record<string, number>>>>;
}

/** The breakdown of every node of the cluster, summed. */
export async function nodeMemory(endpoints: Endpoints): Promise<NodeMemory> {
  const nodes = await management<Array<{ name: string }>>(endpoints.managementUrl, '/api/nodes?columns=name');
  let erlangBytes = 0;
  let rssBytes = 0;
  let quorumBytes = 0;
  let binaryBytes = 0;
  for (const { name } of nodes) {
    const { memory } = await management<MemoryBreakdown>(
      endpoints.managementUrl,
      `/api/nodes/${encodeURIComponent(name)}/memory`,
    );
    const part = (key: string): number => {
      const value = memory[key];
      return typeof value === 'number' ? value : 0;
    };
    const total = memory['total'];
    const totals = typeof total === 'object' ? total : {};
    erlangBytes += totals['erlang'] ?? 0;
    rssBytes += totals['rss'] ?? 0;
    quorumBytes += part('quorum_queue_procs') + part('quorum_queue_dlx_procs') + part('quorum_ets');
    binaryBytes += part('binary');
  }
  return { erlangBytes, rssBytes, quorumBytes, binaryBytes };
}

/** One delay level's queue, as the management API last sampled it (every 5 s by default). */
export interface LevelStats {
  readonly level: number;
  readonly messages: number;
  /** The queue's process memory, in bytes. */
  readonly memory: number;
}

/**
 * The 28 delay levels of `namespace` (`<namespace>.delay.00` …), from the management API's queue statistics; a level
 * the statistics do not know yet is missing.
 */
export async function delayLevelStats(endpoints: Endpoints, namespace: string): Promise<LevelStats[]> {
  const vhost = encodeURIComponent(vhostOf(endpoints.amqpUrl));
  const queues = await management<Array<{ name: string; messages?: number; memory?: number }>>(
    endpoints.managementUrl,
    `/api/queues/${vhost}?columns=name,messages,memory`,
  );
  const byName = new Map(queues.map((queue) => [queue.name, queue]));
  const levels: LevelStats[] = [];
  for (let level = 0; level < DELAY_LEVELS; level += 1) {
    const queue = byName.get(delayLevel(namespace, level));
    if (queue?.messages !== undefined && queue.memory !== undefined)
      levels.push({ level, messages: queue.messages, memory: queue.memory });
  }
  return levels;
}
