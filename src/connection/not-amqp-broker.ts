import type { PortAnswer } from './amqp-port-probe.js';

/** Said to whoever pointed warren at a port that is not a broker's. */
const HINT = "is this RabbitMQ's port?";

/**
 * The explanation of a port that answered with bytes that are not AMQP; `urlSource` is where the URL came from (see
 * `settingSource`), `sample` the start of what the port sent, when known.
 */
export function notAmqpBroker(hostPort: string, urlSource: string, sample?: string): string {
  const sent = sample === undefined ? '' : ` (it sent "${sample}")`;
  return `${hostPort} answered, but not as an AMQP broker${sent}: ${HINT} Check the port in ${urlSource}`;
}

/** What a probe's answer shows about a port that is no AMQP broker; undefined when it shows nothing of the kind. */
export function explainPortAnswer(hostPort: string, answer: PortAnswer, urlSource: string): string | undefined {
  if (answer.kind === 'silent')
    return `${hostPort} accepted the connection, but did not answer as an AMQP broker: ${HINT} Check the port in ${urlSource}`;
  if (answer.kind === 'other') return notAmqpBroker(hostPort, urlSource, answer.sample);
  return undefined;
}
