import { WarrenError } from './warren-error.js';

/**
 * Thrown by `startTestBroker` (`warren/testing`) when it finds no broker for tests: RabbitMQ (or Redis, when wanted)
 * did not answer at the configured URL and no Docker engine could start one, or Docker answered but testcontainers
 * is not installed or could not start the containers. The message is one line saying what was tried.
 */
export class TestBrokerUnavailableError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WARREN_ERR_TEST_BROKER_UNAVAILABLE', message, options);
  }
}
