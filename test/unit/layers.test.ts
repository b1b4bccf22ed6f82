import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layer rule of eslint.config.js, exercised: an import that points up the layers, or I/O in a pure module, is an
// error in `npm test`'s lint step. Each text is linted as if it were the file named (the file itself is untouched).
const eslint = new ESLint({ cwd: fileURLToPath(new URL('../../', import.meta.url)) });

async function errorsOf(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

describe('the dependency rule of src/', () => {
  it('refuses an import that points up the layers', async () => {
    const errors = await errorsOf(
      'src/config/duration.ts',
      "import { Worker } from '../worker/worker.js';\nexport const up = Worker;\n",
    );
    expect(errors).toEqual([expect.stringMatching(/^no-restricted-imports: .*src\/config is below that folder/)]);
  });

  it('allows an import that points down', async () => {
    const errors = await errorsOf(
      'src/worker/worker-options.ts',
      "import { ConfigError } from '../errors/config-error.js';\nexport const down = ConfigError;\n",
    );
    expect(errors).toEqual([]);
  });

  it('refuses I/O in a pure module, and allows type imports there', async () => {
    const io = await errorsOf(
      'src/retry/decide.ts',
      "import { connect } from 'amqplib';\nexport const io = connect;\n",
    );
    expect(io).toEqual([expect.stringMatching(/no-restricted-imports: .*A pure module does no I\/O/)]);
    const types = await errorsOf(
      'src/messages/decode.ts',
      "import type { Message } from 'amqplib';\nexport type Typed = Message;\n",
    );
    expect(types).toEqual([]);
  });
}, 60_000);
