import { nodeOf } from '../../src/config/broker-urls.js';
import { afterEach, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteNamespace, uniqueNamespace } from '../helpers/broker.js';
import { logLines, spawnWarren, type WarrenProcess } from '../helpers/cli.js';
import { fetchText, metricSamples } from '../helpers/prometheus.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const GOOD_NODE = nodeOf(AMQP_URL);
/** A node of the list that is down: nothing listens on port 9 (discard) here. */
const DOWN = 'amqp://guest:s3cret@127.0.0.1:9';

async function start(amqpUrl: string): Promise<{ proc: WarrenProcess; port: number }> {
  const namespace = uniqueNamespace('nodes');
  cleanups.push(() => deleteNamespace(namespace, ['email.send', 'report.generate']));
  const proc = spawnWarren(['start'], {
    WARREN_AMQP_URL: amqpUrl,
    WARREN_NAMESPACE: namespace,
    WARREN_LOG_LEVEL: 'info',
  });
  cleanups.push(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
    await proc.exited;
  });
  const listening = /warren: http:\/\/0\.0\.0\.0:(\d+)\/metrics/;
  await proc.waitForOutput(listening, 30_000);
  await proc.waitForOutput(/"msg":"worker started"/, 30_000);
  return { proc, port: Number(listening.exec(proc.stderr())?.[1]) };
}

describe('warren start given several broker nodes, one of them down', () => {
  it.each([
    ['the down node first', `${DOWN},${AMQP_URL}`],
    ['the down node last', `${AMQP_URL},${DOWN}`],
  ])(
    '%s: both connections end on the node that answers; /readyz, the logs and warren_connection_node name it',
    async (_what, amqpUrl) => {
      const { proc, port } = await start(amqpUrl);
      const ready = await fetchText(`http://127.0.0.1:${port}/readyz`);
      expect(ready).toBe(`ready\nconsume: ${GOOD_NODE}\npublish: ${GOOD_NODE}\n`);
      const samples = metricSamples(await fetchText(`http://127.0.0.1:${port}/metrics`));
      for (const purpose of ['consume', 'publish']) {
        expect(samples.get(`warren_connection_node{purpose="${purpose}",node="${GOOD_NODE}"}`)).toBe(1);
        expect(samples.get(`warren_connection_node{purpose="${purpose}",node="127.0.0.1:9"}`)).toBe(0);
      }
      const connected = logLines(proc.stdout()).filter((line) => line['msg'] === 'connected to RabbitMQ');
      expect(connected.map((line) => [line['purpose'], line['node']]).sort()).toEqual([
        ['consume', GOOD_NODE],
        ['publish', GOOD_NODE],
      ]);
      expect(`${proc.stdout()}${proc.stderr()}`).not.toContain('s3cret');
    },
  );

  it('an entry that is no URL stops startup with one line naming it, its password hidden', async () => {
    const proc = spawnWarren(['start'], { WARREN_AMQP_URL: `${AMQP_URL},amqp://guest:s3cret@127.0.0.1:notaport` });
    const code = await proc.exited;
    expect(code).toBe(1);
    expect(proc.stderr()).toContain(
      `WARREN_AMQP_URL must be an amqp:// or amqps:// URL, or several separated by commas (a cluster's nodes); entry 2 of 2: "amqp://guest:***@127.0.0.1:notaport" is not a valid URL`,
    );
    expect(proc.stderr()).not.toContain('s3cret');
  });
});
