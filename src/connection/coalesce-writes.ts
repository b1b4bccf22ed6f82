import type { ChannelModel } from 'amqplib';

interface CorkableStream {
  write: (...args: unknown[]) => boolean;
  cork: () => void;
  uncork: () => void;
}

const PATCHED = Symbol.for('warren.coalesceWrites');

/**
 * Makes every frame amqplib writes in one turn of the event loop leave in one `writev`: the socket is corked at the
 * first write of a turn and uncorked on the next tick. amqplib writes each frame (a publish, an ack) with its own
 * `socket.write`; with TCP_NODELAY each of those is a system call and a packet. Relies only on the public
 * `net.Socket` API (`write`, `cork`, `uncork`) of the connection's stream; does nothing when it is not there.
 */
export function coalesceWrites(model: ChannelModel | object): boolean {
  const stream = (model as unknown as { connection?: { stream?: Partial<CorkableStream> & { [PATCHED]?: true } } })
    .connection?.stream;
  if (
    !stream ||
    typeof stream.write !== 'function' ||
    typeof stream.cork !== 'function' ||
    typeof stream.uncork !== 'function'
  )
    return false;
  if (stream[PATCHED]) return true;
  const socket = stream as CorkableStream & { [PATCHED]?: true };
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: unknown, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(socket, args);
  };
  socket[PATCHED] = true;
  return true;
}
