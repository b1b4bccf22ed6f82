import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import amqp from 'amqplib';
import { Redis } from 'ioredis';

/** What the bench ran on, for the report. */
export interface MachineInfo {
  readonly date: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly node: string;
  readonly rabbitmq: string;
  readonly erlang: string;
  readonly redis: string;
  readonly redisPersistence: string;
  readonly packages: Readonly<Record<string, string>>;
  readonly commit: string;
  readonly loadAverage: string;
}

const PACKAGES = [
  'amqplib',
  'amqp-connection-manager',
  'bullmq',
  'ioredis',
  'pino',
  'prom-client',
  'zod',
  'esbuild',
  'tsx',
];

function packageVersion(name: string): string {
  try {
    const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return 'not installed';
  }
}

function cpuModel(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown';
  try {
    // os.cpus() may give only the vendor name on virtual machines; lscpu often knows more.
    const lscpu = execFileSync('lscpu', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const line = /^Model name:\s*(.+)$/m.exec(lscpu)?.[1]?.trim();
    return line && line.length > model.length ? line : model;
  } catch {
    return model;
  }
}

export function loadAverageText(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ');
}

export async function machineInfo(amqpUrl: string, redisUrl: string): Promise<MachineInfo> {
  let rabbitmq: string;
  let erlang = 'unknown';
  try {
    const connection = await amqp.connect(amqpUrl);
    const server =
      (connection.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties ?? {};
    rabbitmq = String(server['version'] ?? 'unknown');
    erlang = String(server['platform'] ?? 'unknown');
    await connection.close();
  } catch (error) {
    rabbitmq = `unreachable (${(error as Error).message})`;
  }
  let redis: string;
  let redisPersistence = 'unknown';
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  try {
    await client.connect();
    const info = await client.info('server');
    redis = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const aof = await client.config('GET', 'appendonly');
    const save = await client.config('GET', 'save');
    redisPersistence = `appendonly ${aof[1] ?? '?'}, save "${save[1] ?? ''}"`;
  } catch (error) {
    redis = `unreachable (${(error as Error).message})`;
  } finally {
    client.disconnect();
  }
  let commit = 'unknown';
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    commit = dirty ? `${head} (src/ has uncommitted changes)` : head;
  } catch {
    // not a git checkout
  }
  const warren =
    (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string })
      .version ?? '?';
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cores: cpus().length,
    ramGiB: totalmem() / 1024 ** 3,
    node: process.version,
    rabbitmq,
    erlang,
    redis,
    redisPersistence,
    packages: { warren, ...Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)])) },
    commit,
    loadAverage: loadAverageText(),
  };
}
