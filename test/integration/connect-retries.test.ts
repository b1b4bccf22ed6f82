import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry, WarrenClient, Worker, defineJob, type ConnectRetry } from 'warren';
import { probeAmqpPort } from '../../src/connection/amqp-port-probe.js';
import { memoryLogger, testConfig } from '../helpers/broker.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A TCP server on a free port of 127.0.0.1 that does `onConnection` with each connection. */
async function tcpServer(onConnection: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  const close = server.close.bind(server);
  // Close the connections too, or close() waits for silent ones forever.
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const port = await tcpServer(() => {});
  const server = servers.pop() as Server;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('probeAmqpPort', () => {
  it('tells a silent port, a port that answers something else, one that closes, one that answers AMQP and a closed one apart', async () => {
    const silent = await tcpServer(() => {});
    const http = await tcpServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
    const closes = await tcpServer((socket) => socket.destroy());
    // What RabbitMQ does with a protocol header it does not speak: it answers with the one it does.
    const broker = await tcpServer((socket) => socket.once('data', () => socket.end('AMQP\x00\x00\x09\x01')));
    const closed = await freePort();
    const answers = await Promise.all(
      [silent, http, closes, broker, closed].map((port) => probeAmqpPort('127.0.0.1', port, 500)),
    );
    expect(answers).toEqual([
      { kind: 'silent' },
      { kind: 'other', sample: 'HTTP/1.1 400 Bad Request' },
      { kind: 'closed' },
      { kind: 'amqp' },
      { kind: 'unreachable' },
    ]);
  });
});

describe('waiting for RabbitMQ at startup', () => {
  it('a port that accepts connections but never answers: each attempt reported as not an AMQP broker', async () => {
    const port = await tcpServer(() => {});
    const retries: ConnectRetry[] = [];
    const client = new WarrenClient({
      config: testConfig({ amqpUrl: `amqp://guest:guest@127.0.0.1:${port}` }),
      logger: memoryLogger('silent').logger,
      connectTimeoutMs: 4_000,
      onConnectRetry: (retry) => retries.push(retry),
    });
    const expected = `127.0.0.1:${port} accepted the connection, but did not answer as an AMQP broker: is this RabbitMQ's port?`;
    await expect(client.start()).rejects.toThrow(`within 4000 ms: ${expected}`);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ purpose: 'publish', attempt: 1, timeoutMs: 4_000 });
    expect(retries[0]?.elapsedMs).toBeLessThan(4_000);
    expect(retries[0]?.error.message.startsWith(`${expected} Check the port in `)).toBe(true);
  });

  it('a port that answers something else is named as not an AMQP broker at once', async () => {
    const port = await tcpServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const retries: ConnectRetry[] = [];
    const client = new WarrenClient({
      config: testConfig({ amqpUrl: `amqp://guest:guest@127.0.0.1:${port}` }),
      logger: memoryLogger('silent').logger,
      connectTimeoutMs: 2_000,
      onConnectRetry: (retry) => retries.push(retry),
    });
    await expect(client.start()).rejects.toThrow(
      `127.0.0.1:${port} answered, but not as an AMQP broker: is this RabbitMQ's port?`,
    );
    expect(retries[0]?.elapsedMs).toBeLessThan(1_000);
  });

  it('without a listener, each attempt is one warn line without a stack; the stack is logged at debug', async () => {
    const port = await freePort();
    const { logger, lines } = memoryLogger('debug');
    const worker = new Worker({
      config: testConfig({ amqpUrl: `amqp://guest:guest@127.0.0.1:${port}` }),
      registry: new Registry().add([defineJob('retry.job', () => {})]),
      logger,
      connectTimeoutMs: 2_500,
    });
    await expect(worker.start()).rejects.toThrow(/within 2500 ms/);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const warnings = records.filter((record) => record['msg'] === 'cannot connect yet; retrying');
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    for (const [index, warning] of warnings.entries()) {
      expect(warning).toMatchObject({ level: 40, attempt: index + 1, timeoutMs: 2_500 });
      expect(warning['reason']).toMatch(new RegExp(`nothing is listening for AMQP at 127\\.0\\.0\\.1:${port}`));
      expect(warning).not.toHaveProperty('err');
    }
    const debug = records.filter((record) => record['msg'] === 'connection attempt failed');
    expect(debug.length).toBeGreaterThanOrEqual(warnings.length);
    expect(debug[0]).toMatchObject({ level: 20, err: { stack: expect.stringContaining('ECONNREFUSED') } });
  });
});
