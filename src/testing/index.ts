/**
 * `warren/testing`: helpers for testing handlers without a broker. Nothing in warren's main entry loads this module.
 */
export { runJob } from './run-job.js';
export type { RunJobContext, RunJobResult } from './run-job.js';
export { startTestBroker } from './start-test-broker.js';
export type { TestBroker, TestBrokerConfig, TestBrokerOptions } from './start-test-broker.js';
export { TestBrokerUnavailableError } from '../errors/test-broker-unavailable-error.js';
