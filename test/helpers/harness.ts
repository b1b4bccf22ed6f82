import {
  Registry,
  Worker,
  WarrenClient,
  type DeliveryOutcome,
  type HandlerEntry,
  type SchemaMap,
  type WarrenConfig,
  type WarrenMetrics,
} from 'warren';
import { plannedJobs } from '../../src/retry/retry-policy.js';
import { deleteNamespace, memoryLogger, testConfig } from './broker.js';
import { deleteRedisNamespace } from './redis-server.js';

/** A started worker and client on a namespace of their own, torn down by `close()`. */
export interface Harness {
  readonly config: WarrenConfig;
  readonly worker: Worker;
  readonly client: WarrenClient;
  readonly logLines: string[];
  close(): Promise<void>;
}

/** Starts a worker for `handlers` and a client, on a fresh namespace; `close()` stops both and deletes the namespace. */
export async function startHarness(
  handlers: readonly HandlerEntry[],
  options: {
    config?: Partial<WarrenConfig>;
    schemas?: SchemaMap;
    metrics?: WarrenMetrics;
    onOutcome?: (outcome: DeliveryOutcome, jobType: string) => void;
    /** Runs before the worker and client start (`worker.use`, `worker.on`, `client.use`). */
    prepare?: (worker: Worker, client: WarrenClient) => void;
  } = {},
): Promise<Harness> {
  const config = testConfig(options.config);
  const { logger, lines } = memoryLogger();
  const registry = new Registry().add(handlers);
  const worker = new Worker({
    config,
    registry,
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
  });
  const client = new WarrenClient({
    config,
    logger,
    ...(options.schemas ? { schemas: options.schemas } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  options.prepare?.(worker, client);
  await worker.start();
  await client.start();
  return {
    config,
    worker,
    client,
    logLines: lines,
    async close() {
      await client.close();
      await worker.stop();
      const jobs = plannedJobs(registry.list(), config);
      await deleteNamespace(
        config.namespace,
        jobs.map((job) => job.jobType),
        jobs.flatMap((job) => job.tiersMs),
      );
      // De-duplication records and schedule state live in Redis under the namespace.
      await deleteRedisNamespace(config.namespace);
    },
  };
}
