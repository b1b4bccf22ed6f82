/**
 * Bundles bench/scale/trial.ts (with warren's src/ and the bench code; packages stay in node_modules) into
 * bench/.build/scale/trial.mjs with linked source maps, as bench/build.ts does for the main bench: the measured
 * process runs on plain `node`, and `--cpu-prof` positions map back to src/ (bench/profile.ts).
 *
 *   npx tsx bench/scale/build.ts        # then: node bench/.build/scale/trial.mjs --help
 */
import { fileURLToPath } from 'node:url';
import { bundleTrial } from '../build.js';

export const SCALE_BUILD_DIR = fileURLToPath(new URL('../.build/scale/', import.meta.url));
export const SCALE_TRIAL_BUNDLE = fileURLToPath(new URL('../.build/scale/trial.mjs', import.meta.url));

export async function buildScaleTrial(): Promise<string> {
  await bundleTrial(fileURLToPath(new URL('./trial.ts', import.meta.url)), SCALE_BUILD_DIR);
  return SCALE_TRIAL_BUNDLE;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${await buildScaleTrial()}\n`);
}
