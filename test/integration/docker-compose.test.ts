import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { brokerUrls, brokerUrlsProblem, nodeOf } from '../../src/config/broker-urls.js';
import { FILES, loadYaml, repoPath, requireBinary, runCommand } from '../helpers/prometheus.js';

// docker-compose.yml as Compose reads it: `docker-compose config` (Debian's docker-compose, which validates and
// resolves the file without a Docker engine) with the default host ports and with every port variable set.
// test/integration/observability-config.test.ts checks what the services mount, run and scrape.

/** Every published port: the variable that moves it on the host, and the port inside the stack (its default). */
const PORTS = [
  { variable: 'WARREN_RABBITMQ_PORT', service: 'rabbitmq', target: 5672 },
  { variable: 'WARREN_RABBITMQ_MANAGEMENT_PORT', service: 'rabbitmq', target: 15672 },
  { variable: 'WARREN_RABBITMQ_PROMETHEUS_PORT', service: 'rabbitmq', target: 15692 },
  { variable: 'WARREN_REDIS_PORT', service: 'redis', target: 6379 },
  { variable: 'WARREN_PROMETHEUS_PORT', service: 'prometheus', target: 9090 },
  { variable: 'WARREN_GRAFANA_PORT', service: 'grafana', target: 3000 },
] as const;

/** The services that run warren itself, from the `x-warren` anchor. */
const WARREN_SERVICES = ['worker', 'scheduler', 'demo-publisher'];
/** The cluster profile: its RabbitMQ nodes, and the warren services given all of them. */
const CLUSTER_NODES = ['rabbit-1', 'rabbit-2', 'rabbit-3'];
const CLUSTER_WARREN_SERVICES = ['cluster-worker', 'cluster-scheduler'];

interface ResolvedService {
  image?: string;
  hostname?: string;
  command?: string[];
  profiles?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }>;
  build?: { context?: string; dockerfile?: string };
  ports?: Array<{ published?: number | string; target?: number | string } | string>;
  environment?: Record<string, string>;
}
interface Resolved {
  services: Record<string, ResolvedService>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dockerCompose(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'docker-compose'))) return join(dir, 'docker-compose');
  }
  throw new Error(
    "docker-compose is not installed (not found on PATH): install Debian's docker-compose package (apt-get install docker-compose), which validates docker-compose.yml without a Docker engine; .ci/run does this",
  );
}

interface ComposeConfig {
  readonly code: number;
  readonly stderr: string;
  readonly resolved: Resolved;
}
/** Each set of variables is resolved once per test file. */
const configs = new Map<string, Promise<ComposeConfig>>();

/**
 * `docker-compose config` of the repository's file with exactly the given variables: the caller's own port
 * variables and any `.env` file are left out, so the defaults are the file's.
 */
function composeConfig(variables: Record<string, string> = {}): Promise<ComposeConfig> {
  const key = JSON.stringify(variables);
  let run = configs.get(key);
  if (!run) {
    run = runComposeConfig(variables);
    configs.set(key, run);
  }
  return run;
}

async function runComposeConfig(variables: Record<string, string>): Promise<ComposeConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'warren-compose-'));
  dirs.push(dir);
  const envFile = join(dir, 'empty.env');
  writeFileSync(envFile, '');
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^WARREN_/.test(name) && !/^COMPOSE_/.test(name)),
  );
  const result = await runCommand(
    dockerCompose(),
    ['--env-file', envFile, '--project-directory', repoPath('.'), '-f', repoPath(FILES.compose), 'config'],
    { env: { ...env, ...variables }, timeoutMs: 60_000 },
  );
  if (result.code !== 0) return { code: result.code, stderr: result.stderr, resolved: { services: {} } };
  const script = 'import json, sys, yaml\njson.dump(yaml.safe_load(sys.stdin), sys.stdout)';
  const parsed = await runCommand(requireBinary('python3'), ['-c', script], { input: result.stdout });
  if (parsed.code !== 0) throw new Error(`the output of docker-compose config is not YAML: ${parsed.stderr}`);
  return { code: 0, stderr: result.stderr, resolved: JSON.parse(parsed.stdout) as Resolved };
}

/** Host port → container port of a resolved service (long or short port syntax). */
function published(service: ResolvedService | undefined): Map<number, number> {
  const map = new Map<number, number>();
  for (const port of service?.ports ?? []) {
    if (typeof port === 'string') {
      const [host, container] = port.split(':').slice(-2);
      map.set(Number(host), Number(container));
    } else map.set(Number(port.published), Number(port.target));
  }
  return map;
}

describe('docker-compose.yml, as docker-compose config resolves it', () => {
  it('is valid and publishes every port on its own number by default', async () => {
    const { code, stderr, resolved } = await composeConfig();
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/WARN|not set/i);
    for (const { variable, service, target } of PORTS)
      expect(published(resolved.services[service]).get(target), `${service} ${target} (${variable} unset)`).toBe(
        target,
      );
  });

  it('moves every host port by its variable, keeping the ports inside the stack', async () => {
    const moved = Object.fromEntries(PORTS.map(({ variable }, i) => [variable, String(40_001 + i)]));
    const { code, stderr, resolved } = await composeConfig(moved);
    expect(code, stderr).toBe(0);
    for (const [i, { variable, service, target }] of PORTS.entries()) {
      const ports = published(resolved.services[service]);
      expect(ports.get(40_001 + i), `${variable}=${40_001 + i} publishes ${service}:${target}`).toBe(target);
      expect(ports.has(target) && target !== 40_001 + i, `${service} no longer publishes ${target}`).toBe(false);
    }
    // The services reach each other inside the stack, on the ports that did not move.
    for (const name of WARREN_SERVICES) {
      expect(resolved.services[name]?.environment?.['WARREN_AMQP_URL'], name).toMatch(/@rabbitmq:5672$/);
      expect(resolved.services[name]?.environment?.['WARREN_REDIS_URL'], name).toBe('redis://redis:6379');
    }
  });

  it('rejects a port variable that is not a port number (it is validated, not passed through)', async () => {
    const { code, stderr } = await composeConfig({ WARREN_REDIS_PORT: 'not-a-port' });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/redis\.ports/);
  });

  it('builds one image, warren:local, for every service that runs warren', async () => {
    const { resolved } = await composeConfig();
    const built = Object.entries(resolved.services).filter(([, svc]) => svc.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual([...WARREN_SERVICES, ...CLUSTER_WARREN_SERVICES].sort());
    // A service with a build and no image gets an image of its own (<project>_<service>): built once per service.
    for (const [name, svc] of built) expect(svc.image, `${name} names its image`).toBe('warren:local');
    expect(new Set(built.map(([, svc]) => JSON.stringify(svc.build))).size, 'one build for the one image').toBe(1);
    expect(built[0]?.[1].build?.dockerfile).toBe('docker/Dockerfile');
  });
});

describe('the cluster profile of docker-compose.yml', () => {
  it('has three RabbitMQ nodes that form a cluster on start: classic config peer discovery naming each, one Erlang cookie', async () => {
    const { code, stderr, resolved } = await composeConfig();
    expect(code, stderr).toBe(0);
    const conf = readFileSync(repoPath('docker/rabbitmq/cluster.conf'), 'utf8');
    expect(conf).toMatch(/^cluster_formation\.peer_discovery_backend = classic_config$/m);
    const listed = [...conf.matchAll(/^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$/gm)].map((m) => m[1]);
    expect(listed).toEqual(CLUSTER_NODES.map((host) => `rabbit@${host}`));
    const cookies = new Set<string>();
    for (const name of CLUSTER_NODES) {
      const node = resolved.services[name];
      expect(node?.profiles, name).toEqual(['cluster']);
      expect(node?.hostname, name).toBe(name);
      expect(node?.environment?.['RABBITMQ_NODENAME'], name).toBe(`rabbit@${name}`);
      const cookie = /-setcookie (\S+)/.exec(node?.environment?.['RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS'] ?? '')?.[1];
      expect(node?.environment?.['RABBITMQ_CTL_ERL_ARGS'], `${name}: rabbitmqctl uses the node's cookie`).toBe(
        `-setcookie ${String(cookie)}`,
      );
      cookies.add(String(cookie));
      expect(
        node?.volumes?.some((v) => v.endsWith('docker/rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro')),
      ).toBe(true);
      expect(published(node).size, `${name} publishes no host port (the stack's rabbitmq holds them)`).toBe(0);
    }
    expect(cookies.size).toBe(1);
  });

  it('points its workers and scheduler at all three nodes, and starts them once every node is healthy', async () => {
    const { resolved } = await composeConfig();
    for (const name of CLUSTER_WARREN_SERVICES) {
      const service = resolved.services[name];
      expect(service?.profiles, name).toEqual(['cluster']);
      const url = service?.environment?.['WARREN_AMQP_URL'] ?? '';
      expect(brokerUrlsProblem(url), name).toBeUndefined();
      expect(brokerUrls(url).map(nodeOf), name).toEqual(CLUSTER_NODES.map((host) => `${host}:5672`));
      for (const node of CLUSTER_NODES)
        expect(service?.depends_on?.[node]?.condition, `${name} → ${node}`).toBe('service_healthy');
    }
    expect(resolved.services['cluster-worker']?.command).toEqual(['start']);
    expect(resolved.services['cluster-scheduler']?.command).toEqual(['scheduler']);
  });
});

describe('the port variables of docker-compose.yml', () => {
  it('are the only way a port is published, each defaulting to the port inside the stack', async () => {
    const file = (await loadYaml(FILES.compose)) as { services: Record<string, { ports?: string[] }> };
    const found = Object.entries(file.services).flatMap(([service, svc]) =>
      (svc.ports ?? []).map((port) => {
        const match = /^\$\{(WARREN_[A-Z_]+_PORT):-(\d+)\}:(\d+)$/.exec(port);
        expect(match, `${service} publishes "${port}" through a \${WARREN_…_PORT:-default} variable`).not.toBeNull();
        expect(match?.[2], `${service} "${port}": the default host port is the container port`).toBe(match?.[3]);
        return { variable: match?.[1], service, target: Number(match?.[3]) };
      }),
    );
    expect(found).toEqual(expect.arrayContaining([...PORTS]));
    expect(found).toHaveLength(PORTS.length);
  });

  it("are documented in the file's header comment and the README's Docker section, with their defaults", () => {
    const header = readFileSync(repoPath(FILES.compose), 'utf8').split(/\n(?!#)/)[0] ?? '';
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    const docker = readme.slice(readme.indexOf('\n## Docker\n'));
    expect(docker.length, 'the README has a Docker section').toBeGreaterThan(20);
    for (const { variable, target } of PORTS) {
      expect(header, `docker-compose.yml's header comment`).toMatch(new RegExp(`${variable}\\s+${target}\\b`));
      expect(docker, "the README's Docker section").toMatch(new RegExp(`\`${variable}\`[^\\n]*\`${target}\``));
    }
  });
});
