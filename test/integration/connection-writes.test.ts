import { afterEach, describe, expect, it } from 'vitest';
import { BrokerConnection } from '../../src/connection/broker-connection.js';
import { AMQP_URL, memoryLogger } from '../helpers/broker.js';

const connections: BrokerConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) await connection.close();
});

describe('the socket of a broker connection', () => {
  it('has coalesced writes, after the first connect and after a reconnect', async () => {
    const connection = new BrokerConnection({
      url: AMQP_URL,
      purpose: 'consume',
      heartbeatSeconds: 5,
      logger: memoryLogger('silent').logger,
    });
    connections.push(connection);
    await connection.start(5_000);
    const socketOf = () =>
      (
        connection.manager.connection as unknown as {
          connection: { stream: Record<symbol, unknown> & { write: unknown } };
        }
      ).connection.stream;
    const first = socketOf();
    expect(first[Symbol.for('warren.coalesceWrites')]).toBe(true);
    expect((first.write as { name: string }).name).toBe('coalescedWrite');

    // A reconnect gets a new socket, patched again.
    const reconnected = new Promise<void>((resolve) => connection.manager.once('connect', () => resolve()));
    (first as unknown as { destroy: (error: Error) => void }).destroy(new Error('connection cut by the test'));
    await reconnected;
    const second = socketOf();
    expect(second).not.toBe(first);
    expect(second[Symbol.for('warren.coalesceWrites')]).toBe(true);
  });
});
