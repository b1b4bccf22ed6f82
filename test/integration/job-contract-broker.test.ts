import { DeadLetterAdmin, Registry, WarrenClient, Worker, type DeliveryOutcome, type WarrenConfig } from 'warren';
import { plannedJobs } from '../../src/retry/retry-policy.js';
import { deleteNamespace, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { jobContract } from '../helpers/job-contract.js';
import { SHARED_REDIS_URL, deleteRedisNamespace } from '../helpers/redis-server.js';

// The job contract on a worker and client on RabbitMQ (and Redis), on the wall clock.
let worker: Worker | undefined;
let client: WarrenClient | undefined;
let admin: DeadLetterAdmin | undefined;
let config: WarrenConfig | undefined;
let cleanup: (() => Promise<void>) | undefined;
const outcomes: Array<{ jobType: string; outcome: DeliveryOutcome }> = [];

jobContract({
  name: 'RabbitMQ',
  // A delivery, a confirm and a queue's TTL expiry between two calls, on a loaded CI machine.
  toleranceMs: 1_500,
  async start(jobs, schedules, overrides) {
    config = testConfig({ ...overrides, redisUrl: SHARED_REDIS_URL });
    const { logger } = memoryLogger('warn');
    const registry = new Registry().add(jobs);
    worker = new Worker({
      config,
      registry,
      schedules,
      logger,
      onOutcome: (outcome, jobType) => outcomes.push({ jobType, outcome }),
    });
    client = new WarrenClient({ config, logger });
    admin = new DeadLetterAdmin({ config, logger });
    const namespace = config.namespace;
    const planned = plannedJobs(registry.list(), config);
    cleanup = async () => {
      await deleteNamespace(
        namespace,
        planned.map((job) => job.jobType),
        planned.flatMap((job) => job.tiersMs),
      );
      await deleteRedisNamespace(namespace);
    };
    await worker.start();
    await client.start();
    await admin.start();
  },
  publish: (jobType, payload, options) => {
    if (!client) throw new Error('the client is not started');
    return client.publish(jobType, payload, options);
  },
  until: (what, check) => waitFor(what, check, 20_000, 10),
  now: () => Date.now(),
  outcomes: (jobType) => outcomes.filter((o) => o.jobType === jobType).map((o) => o.outcome),
  deadLetters: async (jobType) => {
    if (!admin) throw new Error('the dead-letter admin is not started');
    const letters = await admin.peek(jobType, 10);
    return letters;
  },
  async stop() {
    await admin?.close().catch(() => {});
    await client?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await cleanup?.();
  },
});
