import { pino, type DestinationStream, type Logger } from 'pino';
import { redactUrl } from '../config/broker-urls.js';

/**
 * warren's root logger: pino JSON, one line per event, secrets in URLs redacted wherever a `url` or `amqpUrl`
 * field appears. Components take children of it (`{ component }`), jobs take children with `jobId`, `jobType`, `attempt`.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: undefined },
      redact: {
        paths: ['url', 'amqpUrl', '*.url', '*.amqpUrl'],
        censor: (value: unknown) => (typeof value === 'string' ? redactUrl(value) : value),
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
