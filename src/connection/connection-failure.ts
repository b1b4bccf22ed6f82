import { ConnectionError } from '../errors/connection-error.js';
import { notAmqpBroker } from './not-amqp-broker.js';
import { redactUrl } from '../config/broker-urls.js';

/** A failed connection attempt, explained; `fatal` failures are not retried at startup. */
export interface ConnectionFailure {
  readonly fatal: boolean;
  readonly error: ConnectionError;
}

/**
 * Turns amqplib's connection errors into messages a user can act on. Wrong credentials and unknown vhosts
 * are fatal: retrying cannot fix them (amqp-connection-manager would retry a 403 forever).
 * @param urlSource where the URL came from, for the messages that say what to check (see `settingSource`): the URL
 *   a user has to fix is the one in that variable, file or option, not necessarily the one they think is in use
 */
export function explainConnectionFailure(error: unknown, url: string, urlSource: string): ConnectionFailure {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const shown = redactUrl(url);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const user = decodeURIComponent(parsed?.username ?? '') || 'guest';
  const vhost = decodeURIComponent(parsed?.pathname.slice(1) ?? '') || '/';
  const hostPort = parsed ? `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672)}` : shown;

  if (message.includes('ACCESS-REFUSED') || message.includes('ACCESS_REFUSED') || /\b403\b/.test(message)) {
    return fatal(
      `RabbitMQ at ${shown} refused the login of user "${user}" (403 ACCESS_REFUSED): check the user name and password in ${urlSource}`,
      error,
    );
  }
  if (message.includes('Expected ConnectionOpenOk') || /NOT_ALLOWED|\b530\b/.test(message)) {
    return fatal(
      `RabbitMQ at ${shown} has no virtual host "${vhost}", or user "${user}" may not use it: check the vhost (the URL's path) in ${urlSource}`,
      error,
    );
  }
  if (code === 'ECONNREFUSED') {
    return retry(
      `nothing is listening for AMQP at ${hostPort} (connection refused): is RabbitMQ running? Check the host and port in ${urlSource}`,
      error,
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return retry(
      `the broker host in ${shown} cannot be resolved (${String(code)}): check the host in ${urlSource}`,
      error,
    );
  }
  if (code === 'ETIMEDOUT')
    return retry(`connecting to ${hostPort} timed out: check the host and port in ${urlSource}`, error);
  // amqplib read the reply to its protocol header as frames, and they made no sense: an HTTP server, say.
  if (
    /^(Frame size \d+ exceeds maxFrameSize|Invalid frame|Unknown frame type|Frame on channel != 0 during handshake|Expected ConnectionStart)/.test(
      message,
    )
  ) {
    return retry(notAmqpBroker(hostPort, urlSource), error);
  }
  return retry(`cannot connect to RabbitMQ at ${shown}: ${message}`, error);
}

function fatal(message: string, cause: unknown): ConnectionFailure {
  return { fatal: true, error: new ConnectionError(message, { cause }) };
}

function retry(message: string, cause: unknown): ConnectionFailure {
  return { fatal: false, error: new ConnectionError(message, { cause }) };
}
