#!/usr/bin/env node
// The `warren` command. Runs the compiled CLI (dist/, made by `npm run build` and by `prepare` on install from git).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  const installed = fileURLToPath(new URL('..', import.meta.url))
    .split(/[\\/]/)
    .includes('node_modules');
  process.stderr.write(
    installed
      ? 'warren: this copy of warren has no build (dist/ is missing). An install from git builds it with its ' +
          '`prepare` script, which npm skips when install scripts are not allowed: allow it (npm approve-scripts ' +
          'warren, or "allowScripts": { "warren": true } in your package.json) and install again, or install ' +
          'from a tarball made with `npm pack`\n'
      : 'warren: the build is missing (dist/); run `npm run build` first\n',
  );
  process.exit(1);
}
// A reader that stops early (`warren dlq peek --json | head -1`) closes the pipe: the output it wanted is out, so
// stop quietly rather than die of an unhandled EPIPE with a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { main } = await import(entry.href);
await main(process.argv);
