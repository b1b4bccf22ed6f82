import { DeadLetterAdmin, Registry, WarrenClient, Worker, type DeliveryOutcome, type WarrenConfig } from 'warren';
import { startTestBroker, type TestBroker } from 'warren/testing';
import { AMQP_URL, memoryLogger, testConfig, waitFor } from '../helpers/broker.js';
import { jobContract } from '../helpers/job-contract.js';
import { SHARED_REDIS_URL } from '../helpers/redis-server.js';

// The job contract on a worker and client on RabbitMQ (and Redis), on the wall clock, on a broker from
// startTestBroker (warren's own suite names its broker in WARREN_TEST_AMQP_URL: CI runs it against 3.10 and 4.0).
let worker: Worker | undefined;
let client: WarrenClient | undefined;
let admin: DeadLetterAdmin | undefined;
let config: WarrenConfig | undefined;
let broker: TestBroker | undefined;
const outcomes: Array<{ jobType: string; outcome: DeliveryOutcome }> = [];

jobContract({
  name: 'RabbitMQ',
  // A delivery, a confirm and a queue's TTL expiry between two calls, on a loaded CI machine.
  toleranceMs: 1_500,
  async start(jobs, schedules, overrides, middleware) {
    broker = await startTestBroker({
      prefix: 'contract',
      jobTypes: jobs.map((job) => job.jobType),
      retryTiersMs: overrides.retryTiersMs,
      env: { WARREN_AMQP_URL: AMQP_URL, WARREN_REDIS_URL: SHARED_REDIS_URL },
    });
    config = testConfig({ ...overrides, ...broker.config });
    const { logger } = memoryLogger('warn');
    const registry = new Registry().add(jobs);
    worker = new Worker({
      config,
      registry,
      schedules,
      logger,
      onOutcome: (outcome, jobType) => outcomes.push({ jobType, outcome }),
    });
    for (const each of middleware) worker.use(each);
    client = new WarrenClient({ config, logger });
    admin = new DeadLetterAdmin({ config, logger });
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
    await broker?.stop();
  },
});
