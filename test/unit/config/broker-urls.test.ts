import { describe, expect, it } from 'vitest';
import {
  brokerUrls,
  brokerUrlsProblem,
  connectionOrder,
  nodeOf,
  processSeed,
  redactUrl,
} from '../../../src/config/broker-urls.js';
import { loadConfig } from '../../../src/config/load-config.js';

const CLUSTER =
  'amqp://app:s3cret@rabbit-1:5672/jobs, amqp://app:s3cret@rabbit-2:5672/jobs,amqp://app:other@rabbit-3/jobs';

describe('the amqpUrl setting as a list', () => {
  it('splits on commas, trims, and drops empty entries', () => {
    expect(brokerUrls(CLUSTER)).toEqual([
      'amqp://app:s3cret@rabbit-1:5672/jobs',
      'amqp://app:s3cret@rabbit-2:5672/jobs',
      'amqp://app:other@rabbit-3/jobs',
    ]);
    expect(brokerUrls('amqp://localhost')).toEqual(['amqp://localhost']);
    expect(brokerUrls('amqp://a,,amqp://b,')).toEqual(['amqp://a', 'amqp://b']);
  });

  it('names the entry at fault, its password redacted', () => {
    expect(brokerUrlsProblem(CLUSTER)).toBeUndefined();
    expect(brokerUrlsProblem('amqp://app:s3cret@rabbit-1,http://app:s3cret@rabbit-2')).toBe(
      'entry 2 of 2: got "http://app:***@rabbit-2"',
    );
    expect(brokerUrlsProblem('amqp://app:s3cret@rabbit-1:port')).toBe(
      '"amqp://app:***@rabbit-1:port" is not a valid URL',
    );
    expect(brokerUrlsProblem('amqp://rabbit-1,amqp://rabbit-1:5672')).toBe('rabbit-1:5672 is named twice');
    expect(brokerUrlsProblem(' , ')).toBe('got no URL');
    expect(brokerUrlsProblem(5672)).toBe('got number');
  });

  it('stops startup with one line that shows no password', () => {
    const load = () =>
      loadConfig({
        env: { WARREN_AMQP_URL: 'amqp://app:s3cret@rabbit-1,amqp://app:s3cret@rabbit-2:bad' },
        file: false,
      });
    expect(load).toThrow(
      'WARREN_AMQP_URL must be an amqp:// or amqps:// URL, or several separated by commas (a cluster\'s nodes); entry 2 of 2: "amqp://app:***@rabbit-2:bad" is not a valid URL',
    );
    expect(load).not.toThrow(/s3cret/);
  });

  it('takes an array in the config file, and keeps a comma-separated list from the environment as given', () => {
    expect(loadConfig({ env: { WARREN_AMQP_URL: CLUSTER }, file: false }).amqpUrl).toBe(CLUSTER);
  });

  it('redacts every password of a list', () => {
    expect(redactUrl(CLUSTER)).toBe(
      'amqp://app:***@rabbit-1:5672/jobs,amqp://app:***@rabbit-2:5672/jobs,amqp://app:***@rabbit-3/jobs',
    );
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:***@127.0.0.1:5672');
    expect(redactUrl('amqp://127.0.0.1')).toBe('amqp://127.0.0.1');
    // Not a URL at all: every user:password@ still goes.
    expect(redactUrl('amqp://a:one@x:bad,amqp://b:two@y:bad')).toBe('amqp://a:***@x:bad,amqp://b:***@y:bad');
  });

  it('names a node by host and port only', () => {
    expect(nodeOf('amqp://app:s3cret@rabbit-3/jobs')).toBe('rabbit-3:5672');
    expect(nodeOf('amqps://app:s3cret@rabbit-3/jobs')).toBe('rabbit-3:5671');
    expect(nodeOf('amqp://[::1]:5673')).toBe('[::1]:5673');
  });
});

describe('the order in which a process tries the nodes', () => {
  const nodes = ['a', 'b', 'c'];

  it('is the list as given, rotated to start at the seed', () => {
    expect(connectionOrder(nodes, 0)).toEqual(['a', 'b', 'c']);
    expect(connectionOrder(nodes, 1)).toEqual(['b', 'c', 'a']);
    expect(connectionOrder(nodes, 5)).toEqual(['c', 'a', 'b']);
    expect(connectionOrder(['only'], 7)).toEqual(['only']);
  });

  it('spreads processes evenly over the nodes: consecutive pids on a host start on each node in turn', () => {
    const firsts = new Map<string, number>();
    for (let pid = 1000; pid < 1300; pid += 1) {
      const first = connectionOrder(nodes, processSeed('worker-host', pid))[0] as string;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    expect([...firsts.values()]).toEqual([100, 100, 100]);
  });

  it('spreads containers that all run as pid 1 by their host names', () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 12; i += 1) firsts.add(connectionOrder(nodes, processSeed(`worker-${i}`, 1))[0] as string);
    expect(firsts.size).toBe(3);
  });
});
