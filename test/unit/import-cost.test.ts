import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Packages the package entry must not load: those an application may not use (each is loaded on first use; zod is the
 * application's own choice of schema library) and @standard-schema/spec, of which warren uses only types.
 */
const OPTIONAL_PACKAGES = [
  'zod',
  'prom-client',
  'node-cron',
  '@sesamecare-oss/redlock',
  'ioredis',
  '@standard-schema/spec',
] as const;

const entry = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));

/**
 * Runs in a fresh `node` and prints, as JSON, which of the packages are loaded after importing the entry.
 *
 * How a load is seen, on Node 20 (no synchronous `module.registerHooks` there): a `resolve` hook registered with
 * `module.register()` before the import reports every URL the ESM loader resolves, which catches a package imported
 * from ESM whatever its format (zod and node-cron are dual, their ESM build is taken; prom-client and redlock are
 * CommonJS). The hook runs on the loader thread and reports over a MessagePort; a last import of a sentinel
 * module flushes the port, since its messages arrive in order. A package loaded with `require` (a `createRequire`
 * in the library, the way they are loaded lazily) skips the ESM hooks, so the CommonJS cache is read as well.
 * The same probe then loads two of the packages on purpose (one by `require`, one by `import`) and reports whether
 * it saw them: a probe that sees nothing would otherwise pass. Against the entry as it was before these packages
 * were loaded lazily, it reported zod, prom-client, node-cron and redlock.
 */
const CHILD = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const [entry, packages] = JSON.parse(process.env.PROBE_ARGS);
const SENTINEL = 'data:text/javascript,export{}//probe-sentinel';
const resolved = [];
const { port1, port2 } = new MessageChannel();
let flushed;
port1.on('message', (url) => {
  if (url.startsWith(SENTINEL)) flushed?.();
  else resolved.push(url);
});
const hooks = \`
  let port;
  export function initialize(data) { port = data.port; }
  export async function resolve(specifier, context, next) {
    const result = await next(specifier, context);
    port.postMessage(result.url);
    return result;
  }\`;
register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });

const require = createRequire(entry);
async function loaded() {
  const done = new Promise((resolve) => (flushed = resolve));
  await import(SENTINEL + (resolved.length + Math.random()));
  await done;
  const files = [...resolved, ...Object.keys(require.cache).map((file) => 'file://' + file)];
  const names = packages.filter((name) => files.some((file) => file.includes('/node_modules/' + name + '/')));
  // warren/testing, the test helpers' entry, is no package of its own: seen by its folder in the build.
  return files.some((file) => file.includes('/dist/src/testing/')) ? [...names, 'warren/testing'] : names;
}

await import(entry);
const afterEntry = await loaded();
require('prom-client');
await import('zod');
await import(new URL('./testing/index.js', 'file://' + entry).href);
const afterControl = await loaded();
port1.close();
process.stdout.write(JSON.stringify({ afterEntry, afterControl }));
`;

describe('importing the package entry', () => {
  it('loads none of the packages an application may not use, nor warren/testing', async () => {
    expect(existsSync(entry), `${entry} is missing: run \`npm run build\` first (npm test does it in pretest)`).toBe(
      true,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, PROBE_ARGS: JSON.stringify([entry, OPTIONAL_PACKAGES]) },
    });
    const { afterEntry, afterControl } = JSON.parse(stdout) as { afterEntry: string[]; afterControl: string[] };
    // The probe sees a package loaded by require and one loaded by import.
    expect(afterControl).toEqual(expect.arrayContaining(['prom-client', 'zod', 'warren/testing']));
    expect(afterEntry).toEqual([]);
  });
});
