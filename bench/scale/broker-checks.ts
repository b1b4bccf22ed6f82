import amqp, { type ChannelModel } from 'amqplib';

/** A connection of the runner's own for looking at queues between the steps of a scenario. */
export class BrokerChecks {
  readonly #model: ChannelModel;

  private constructor(model: ChannelModel) {
    this.#model = model;
  }

  static async open(amqpUrl: string): Promise<BrokerChecks> {
    const model = await amqp.connect(amqpUrl.split(',')[0] ?? amqpUrl);
    model.on('error', () => {});
    return new BrokerChecks(model);
  }

  /** Messages ready in `queue` (a passive declare on a channel of its own). */
  async depth(queue: string): Promise<number> {
    const channel = await this.#model.createChannel();
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /**
   * Polls `queue` until it holds `expected` messages or `timeoutMs` passes (a quorum queue takes back what a reader
   * gave back asynchronously); resolves with the last depth seen.
   */
  async depthSettled(queue: string, expected: number, timeoutMs = 5_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = await this.depth(queue);
      if (seen === expected || performance.now() > deadline) return seen;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async purge(queue: string): Promise<number> {
    const channel = await this.#model.createChannel();
    try {
      return (await channel.purgeQueue(queue)).messageCount;
    } finally {
      await channel.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    await this.#model.close().catch(() => {});
  }
}
