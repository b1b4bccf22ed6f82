import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/config-options.js';

/** Options of a {@link DeadLetterAdmin}. */
export interface DeadLetterAdminOptions {
  readonly config: Pick<WarrenConfig, 'amqpUrl' | 'namespace' | 'heartbeatSeconds'>;
  readonly logger: Logger;
  /** How long `start()` tries to connect. @defaultValue 5000 */
  readonly connectTimeoutMs?: number;
}
