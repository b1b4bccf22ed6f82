import { connect } from 'node:net';

/** What a port did with the AMQP 0-9-1 protocol header. */
export type PortAnswer =
  /** No TCP connection within the time (refused, unreachable, or still connecting). */
  | { readonly kind: 'unreachable' }
  /** Accepted the connection and said nothing (Redis waits for a line, an HTTP server for a request). */
  | { readonly kind: 'silent' }
  /** Accepted the connection and closed it without a byte. */
  | { readonly kind: 'closed' }
  /** Answered with an AMQP frame or protocol header: a broker, only slow. */
  | { readonly kind: 'amqp' }
  /** Answered with something else; `sample` is its start, printable. */
  | { readonly kind: 'other'; readonly sample: string };

const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

/**
 * Opens a TCP connection of its own, sends the AMQP 0-9-1 protocol header and reports what came back within
 * `timeoutMs`. Used only to explain an attempt that timed out: amqplib's `connect ETIMEDOUT` is the same whether
 * nothing accepted the connection or something accepted it and never answered as a broker.
 */
export function probeAmqpPort(host: string, port: number, timeoutMs: number): Promise<PortAnswer> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const socket = connect({ host, port });
    const done = (answer: PortAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done({ kind: connected ? 'silent' : 'unreachable' }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(PROTOCOL_HEADER);
    });
    socket.once('data', (data: Buffer) =>
      done(isAmqp(data) ? { kind: 'amqp' } : { kind: 'other', sample: printable(data) }),
    );
    socket.once('error', () => done({ kind: connected ? 'closed' : 'unreachable' }));
    socket.once('close', () => done({ kind: connected ? 'closed' : 'unreachable' }));
  });
}

/** A connection.start method frame on channel 0, or a protocol header offering another AMQP version. */
function isAmqp(data: Buffer): boolean {
  if (data.subarray(0, 4).toString('latin1') === 'AMQP') return true;
  return data[0] === 1 && data[1] === 0 && data[2] === 0;
}

/** The first line of what came back, at most 40 characters, with anything unprintable as `.`. */
function printable(data: Buffer): string {
  const text = data.subarray(0, 40).toString('latin1').split(/\r?\n/)[0] ?? '';
  return text.replace(/[^\x20-\x7e]/g, '.');
}
