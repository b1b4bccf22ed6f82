import type { Logger } from 'pino';
import type { ConnectRetry } from '../connection/broker-connection.js';
import type { WarrenConfig } from '../config/config-options.js';

/** Options of a {@link DeadLetterAdmin}. */
export interface DeadLetterAdminOptions {
  /**
   * `deliveryLimit`, when given, tells how often a `delivery_limit` dead letter was delivered (see `peek`);
   * `queueType` (default `quorum`) is the type the dead-letter queues were declared with (see `lacksDeliveryLimit`).
   */
  readonly config: Pick<WarrenConfig, 'amqpUrl' | 'namespace' | 'heartbeatSeconds'> &
    Partial<Pick<WarrenConfig, 'deliveryLimit' | 'queueType'>>;
  readonly logger: Logger;
  /** How long `start()` tries to connect. @defaultValue 5000 */
  readonly connectTimeoutMs?: number;
  /** Told of each failed attempt to connect while `start()` waits for RabbitMQ; without it each is logged at `warn`. */
  readonly onConnectRetry?: (retry: ConnectRetry) => void;
}
