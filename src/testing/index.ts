/**
 * `warren/testing`: the local job queue (`createTestHarness`), one handler call (`runJob`) and a real broker in one
 * line (`startTestBroker`), for tests. Nothing in warren's main entry loads this module.
 */
export { runJob } from './run-job.js';
export type { RunJobChild, RunJobContext, RunJobResult } from './run-job.js';
export { TestHarness, createTestHarness } from './test-harness.js';
export type { HarnessWaitOptions, TestHarnessOptions } from './test-harness.js';
export type { FiredSchedule, HandledJob, HandledOutcome, PublishedJob } from './harness-records.js';
export { startTestBroker } from './start-test-broker.js';
export type { TestBroker, TestBrokerConfig, TestBrokerOptions } from './start-test-broker.js';
export { TestBrokerUnavailableError } from '../errors/test-broker-unavailable-error.js';
