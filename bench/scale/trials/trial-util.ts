import amqp from 'amqplib';

/** Messages ready in a queue (both systems name their queue `<id>.job.bench.noop`). */
export async function queueDepth(amqpUrl: string, queue: string): Promise<number> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

/**
 * A measured window as `process.hrtime` microseconds, the time base of `--cpu-prof` profiles (bench/profile.ts keeps
 * only the samples inside it).
 */
export function hrtimeWindow(fromMs: number, toMs: number): readonly [number, number] {
  const offsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
  return [Math.round(fromMs * 1000 + offsetUs), Math.round(toMs * 1000 + offsetUs)];
}
