#!/usr/bin/env node
// The `warren` command. Runs the compiled CLI (npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('warren: the build is missing (dist/); run `npm run build` first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
