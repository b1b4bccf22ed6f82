/**
 * Bundles bench/trial.ts (with warren's src/ and the bench code; packages stay in node_modules) into
 * bench/.build/trial.mjs with linked source maps. Trials run from the bundle with plain `node`: no TypeScript
 * loader thread in the measured process (it adds ~35 MB RSS and its own CPU), and `--cpu-prof` positions map
 * back to src/ through the .map files (see bench/profile.ts).
 *
 *   npx tsx bench/build.ts        # then: node bench/.build/trial.mjs --help
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const BUILD_DIR = fileURLToPath(new URL('./.build/', import.meta.url));
export const TRIAL_BUNDLE = fileURLToPath(new URL('./.build/trial.mjs', import.meta.url));

export async function buildTrial(): Promise<string> {
  await bundleTrial(fileURLToPath(new URL('./trial.ts', import.meta.url)), BUILD_DIR);
  return TRIAL_BUNDLE;
}

/**
 * Bundles one trial entry (TypeScript, with warren's src/; packages stay external) into `outdir` as ESM with linked
 * source maps, emptying `outdir` first. The main bench's trial and the scale scenarios' (bench/scale/build.ts) both.
 */
export async function bundleTrial(entry: string, outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [entry],
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // Each system's module is its own chunk, loaded only by its trials.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${await buildTrial()}\n`);
}
