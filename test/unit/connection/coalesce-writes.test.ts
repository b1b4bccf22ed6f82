import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { coalesceWrites } from '../../../src/connection/coalesce-writes.js';

const open: Array<Server | Socket> = [];
afterEach(() => {
  for (const thing of open.splice(0)) {
    if ('destroy' in thing) thing.destroy();
    else thing.close();
  }
});

/** A TCP client with TCP_NODELAY on, connected to a server that collects what it receives. */
async function pair(): Promise<{ client: Socket; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = createServer((socket) => {
    open.push(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  });
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const client = connect({ port, host: '127.0.0.1', noDelay: true });
  open.push(client);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return { client, received: () => Buffer.concat(chunks) };
}

/** Counts the socket's calls into the OS write path (`_write` for one chunk, `_writev` for several). */
function countWrites(socket: Socket): () => number {
  let calls = 0;
  const target = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = target[name];
    target[name] = function counted(this: unknown, ...args: unknown[]) {
      calls += 1;
      return original.apply(this, args);
    };
  }
  return () => calls;
}

const frames = (count: number, size: number): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.alloc(size, i % 256));

describe('coalesceWrites', () => {
  it('sends the frames written in one tick with one write, in order', async () => {
    const { client, received } = await pair();
    expect(coalesceWrites({ connection: { stream: client } })).toBe(true);
    const writes = countWrites(client);
    const sent = frames(200, 40);
    for (const frame of sent) client.write(frame);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes()).toBe(1);
    const expected = Buffer.concat(sent);
    await expect.poll(() => received().length).toBe(expected.length);
    expect(received().equals(expected)).toBe(true);
  });

  it('without it, the same frames cost a write each (what it saves)', async () => {
    const { client } = await pair();
    const writes = countWrites(client);
    for (const frame of frames(200, 40)) client.write(frame);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes()).toBeGreaterThan(100);
  });

  it('keeps back-pressure: a tick that writes more than the high-water mark reports it, drains and loses nothing', async () => {
    const { client, received } = await pair();
    coalesceWrites({ connection: { stream: client } });
    const sent = frames(256, 4096); // 1 MiB in one tick
    const accepted = sent.map((frame) => client.write(frame));
    expect(accepted.at(-1)).toBe(false);
    await new Promise((resolve) => client.once('drain', resolve));
    const expected = Buffer.concat(sent);
    await expect.poll(() => received().length, { timeout: 5_000 }).toBe(expected.length);
    expect(received().equals(expected)).toBe(true);
  });

  it('leaves anything that is not a socket alone, and patches a socket once', async () => {
    expect(coalesceWrites({})).toBe(false);
    expect(coalesceWrites({ connection: { stream: { write: () => true } } })).toBe(false);
    const { client } = await pair();
    expect(coalesceWrites({ connection: { stream: client } })).toBe(true);
    const patched = client.write;
    expect(coalesceWrites({ connection: { stream: client } })).toBe(true);
    expect(client.write).toBe(patched);
  });
});
