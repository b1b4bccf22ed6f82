import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError } from '../errors/config-error.js';
import { PayloadInvalidError } from '../errors/payload-invalid-error.js';

/**
 * The payload argument of `warren publish`: the JSON itself, `@<file>` to read it from a file, or `-` to read it
 * from stdin. A shell passes one argument of at most about 128 KiB; files and stdin have no such limit.
 * @throws ConfigError naming the file when it is missing or cannot be read
 * @throws PayloadInvalidError naming where the text came from when it is not JSON, with line, column and position
 */
export async function readPayload(argument: string, cwd: string, stdin: Readable): Promise<unknown> {
  if (argument === '-') {
    if ((stdin as { isTTY?: boolean }).isTTY)
      process.stderr.write('warren: reading the payload from stdin (end it with Ctrl-D)\n');
    return parsePayload(await readAll(stdin), 'the payload read from stdin');
  }
  if (argument.startsWith('@')) {
    const path = resolve(cwd, argument.slice(1));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`payload file ${path} ${unreadable(error)}`, { cause: error });
    }
    return parsePayload(text, `payload file ${path}`);
  }
  return parsePayload(argument, 'the payload argument');
}

/** Parses `text` as JSON; `source` names it in the error (`payload file /x.json`). A leading BOM is ignored. */
export function parsePayload(text: string, source: string): unknown {
  const json = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (json.trim() === '') throw new PayloadInvalidError(`${source} is empty: expected a JSON value`);
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new PayloadInvalidError(`${source} is not valid JSON: ${describeJsonError(json, error as Error)}`, {
      cause: error,
    });
  }
}

/**
 * V8's complaint without its own position or quoted snippet (which differ between Node versions), followed by the
 * line, column and offset of the first character JSON does not allow.
 */
export function describeJsonError(text: string, error: Error): string {
  const stated = /at position (\d+)/.exec(error.message);
  const complaint = error.message
    .replace(/, (\.\.\.)?"[\s\S]*" is not valid JSON$/, '')
    .replace(/ in JSON at position \d+[\s\S]*$/, '')
    .trim()
    // V8 quotes the offending character as it is: a newline there would break the one-line message.
    .replace(/\p{Cc}/gu, (control) => (control < ' ' ? JSON.stringify(control).slice(1, -1) : control));
  const position = stated ? Number(stated[1]) : jsonErrorOffset(text);
  if (position === undefined) return complaint;
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `${complaint} at line ${line}, column ${column} (position ${position})`;
}

/** Where `text` stops being JSON: the offset of the first character not allowed there (its length when it ends early); undefined when it is JSON. */
export function jsonErrorOffset(text: string): number | undefined {
  const closers: string[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i += 1;
  };
  const string = (): boolean => {
    i += 1; // the opening quote
    while (i < text.length) {
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i += 1;
        return true;
      }
      if (code < 0x20) return false;
      if (code === 0x5c) {
        const escape = text.charAt(i + 1);
        if ('"\\/bfnrt'.includes(escape) && escape !== '') i += 2;
        else if (escape === 'u') {
          i += 2;
          for (const end = i + 4; i < end; i += 1) if (!/[0-9a-fA-F]/.test(text.charAt(i))) return false;
        } else {
          i += 1;
          return false;
        }
      } else i += 1;
    }
    return false;
  };
  const digits = (): boolean => {
    const start = i;
    while (text.charAt(i) >= '0' && text.charAt(i) <= '9') i += 1;
    return i > start;
  };
  const number = (): boolean => {
    if (text.charAt(i) === '-') i += 1;
    if (text.charAt(i) === '0') i += 1;
    else if (!digits()) return false;
    if (text.charAt(i) === '.') {
      i += 1;
      if (!digits()) return false;
    }
    if (text.charAt(i) === 'e' || text.charAt(i) === 'E') {
      i += 1;
      if (text.charAt(i) === '+' || text.charAt(i) === '-') i += 1;
      if (!digits()) return false;
    }
    return true;
  };

  let expectValue = true;
  for (;;) {
    skipSpace();
    if (expectValue) {
      if (i >= text.length) return i;
      const char = text.charAt(i);
      if (char === '{' || char === '[') {
        i += 1;
        skipSpace();
        const closer = char === '{' ? '}' : ']';
        if (text.charAt(i) === closer) {
          i += 1;
          expectValue = false;
          continue;
        }
        closers.push(closer);
        if (closer === '}' && !key()) return i;
        continue;
      }
      if (char === '"') {
        if (!string()) return i;
      } else if (char === '-' || (char >= '0' && char <= '9')) {
        if (!number()) return i;
      } else {
        // Like V8, blame the first character that breaks the word, not its start.
        const word = ['true', 'false', 'null'].find((candidate) => candidate.charAt(0) === char);
        if (word === undefined) return i;
        for (const letter of word) {
          if (text.charAt(i) !== letter) return i;
          i += 1;
        }
      }
      expectValue = false;
      continue;
    }
    const closer = closers.at(-1);
    if (closer === undefined) return i < text.length ? i : undefined;
    if (i >= text.length) return i;
    if (text.charAt(i) === closer) {
      closers.pop();
      i += 1;
    } else if (text.charAt(i) === ',') {
      i += 1;
      if (closer === '}' && !key()) return i;
      expectValue = true;
    } else return i;
  }

  /** A member's `"key":`, leaving `i` after the colon; false with `i` at the offending character. */
  function key(): boolean {
    skipSpace();
    if (text.charAt(i) !== '"' || !string()) return false;
    skipSpace();
    if (text.charAt(i) !== ':') return false;
    i += 1;
    expectValue = true;
    return true;
  }
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function unreadable(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EISDIR') return 'is a directory, not a file';
  if (code === 'EACCES' || code === 'EPERM') return `cannot be read: permission denied (${code})`;
  return `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
}
