import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hasCode } from 'warren';
import { jsonErrorOffset, parsePayload, readPayload } from '../../../src/cli/read-payload.js';

const NOT_JSON = [
  '{nope',
  '{"a":1,}',
  '{"a":1} x',
  '{"a":',
  '[1,2',
  'abc',
  '{"a":tru}',
  '{"a" 1}',
  '{"a":1 "b":2}',
  '[1,,2]',
  '"ab\ncd"',
  '"bad \\x escape"',
  '"\\u12G4"',
  '-',
  '01',
  '1.',
  '1e',
  '-x',
  '[1.5e+]',
  '{"a":[1,{"b":nul}]}',
  '[]]',
  '\u00a0{}',
];

describe('jsonErrorOffset', () => {
  it('finds nothing wrong in JSON', () => {
    for (const text of ['{}', '[]', ' {"a":[1,-2.5e3,true,false,null,"x\\"\\u00e9"],"b":{}} ', '0', '"s"', '[[[]]]'])
      expect(jsonErrorOffset(text), text).toBeUndefined();
  });

  it('agrees with the position V8 reports, wherever V8 reports one', () => {
    for (const text of NOT_JSON) {
      let message = '';
      try {
        JSON.parse(text);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, text).not.toBe('');
      const offset = jsonErrorOffset(text);
      expect(offset, text).toBeDefined();
      const stated = /at position (\d+)/.exec(message);
      if (stated) expect(offset, `${text}: ${message}`).toBe(Number(stated[1]));
      if (message.includes('Unexpected end')) expect(offset, text).toBe(text.length);
    }
  });
});

describe('parsePayload', () => {
  it('names the source, the line, the column and the position; without V8 snippets', () => {
    const text = '{\n  "to": "a@example.com",\n  "subject": tru\n}';
    const error = (() => {
      try {
        parsePayload(text, 'payload file /tmp/p.json');
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(hasCode(error, 'WARREN_ERR_PAYLOAD_INVALID')).toBe(true);
    expect(error?.message).toBe(
      `payload file /tmp/p.json is not valid JSON: Unexpected token '\\n' at line 3, column 17 (position 43)`,
    );
  });

  it('an empty payload is named as such; a BOM is ignored', () => {
    expect(() => parsePayload(' \n', 'the payload read from stdin')).toThrow(
      'the payload read from stdin is empty: expected a JSON value',
    );
    expect(parsePayload('\uFEFF{"a":1}', 'x')).toEqual({ a: 1 });
  });
});

describe('readPayload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-payload-'));

  it('reads the argument, @file (relative to the working directory) and - (stdin)', async () => {
    writeFileSync(join(dir, 'p.json'), '{"from":"file"}');
    expect(await readPayload('{"from":"argument"}', dir, Readable.from([]))).toEqual({ from: 'argument' });
    expect(await readPayload('@p.json', dir, Readable.from([]))).toEqual({ from: 'file' });
    const stdin = Readable.from([Buffer.from('{"from":'), Buffer.from('"stdin"}')]);
    expect(await readPayload('-', dir, stdin)).toEqual({ from: 'stdin' });
  });

  it('names a missing file and one that cannot be read', async () => {
    mkdirSync(join(dir, 'folder.json'));
    await expect(readPayload('@missing.json', dir, Readable.from([]))).rejects.toThrow(
      `payload file ${join(dir, 'missing.json')} does not exist`,
    );
    await expect(readPayload('@folder.json', dir, Readable.from([]))).rejects.toThrow(
      `payload file ${join(dir, 'folder.json')} is a directory, not a file`,
    );
  });
});
