import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { Registry } from 'warren';
import { buildProgram } from '../../src/cli/main.js';
import { formatPlan } from '../../src/cli/topology-command.js';
import { configVariables, loadConfig } from '../../src/config/load-config.js';
import { MAX_JOB_TYPE_LENGTH } from '../../src/config/name-rules.js';
import { plannedJobs } from '../../src/retry/retry-policy.js';
import { planTopology } from '../../src/topology/topology-plan.js';
import { handlers } from '../../handlers/index.js';
import { inlineCode, parseMarkdown, section, subsections, table } from '../helpers/markdown.js';

// The README and docs/ are checked against the code they describe: the configuration table against the settings
// loadConfig accepts, the CLI reference against each command's real --help (built from the program, so a flag added
// in src/cli fails here until it is documented), and the examples against the files and output they show.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const README = read('README.md');

describe("the README's configuration table", () => {
  const COLUMNS = ['Setting', 'Variable', 'Default', 'Meaning'] as const;
  const code = (text: string | undefined): string | undefined => /^`([^`]*)`/.exec(text ?? '')?.[1];
  /** A directory without config/warren.json, so only the variable given is read. */
  const empty = mkdtempSync(join(tmpdir(), 'warren-docs-'));

  it('lists exactly the settings loadConfig accepts, each with its variable and default', () => {
    const rows = table(
      section(README, (h) => h === 'Configuration', 2),
      COLUMNS,
    );
    const documented = new Map(rows.map((row) => [code(row['Setting']) ?? row['Setting'] ?? '', row]));
    const problems: string[] = [];
    for (const { key, env, defaultValue } of configVariables()) {
      const row = documented.get(key);
      if (!row) {
        problems.push(
          `setting \`${key}\` (${env}, default ${JSON.stringify(defaultValue)}) is accepted by loadConfig but missing from the README's configuration table`,
        );
        continue;
      }
      const variable = code(row['Variable']);
      if (variable !== env)
        problems.push(`setting \`${key}\`: the README's table says variable ${variable}, the code reads ${env}`);
      // The documented default, typed as the variable's value, must give the code's default.
      const text = code(row['Default']);
      let value: unknown;
      try {
        value = text === '""' ? '' : loadConfig({ env: { [env]: text }, cwd: empty })[key];
      } catch (error) {
        value = `(rejected: ${(error as Error).message})`;
      }
      if (text === undefined || !isDeepStrictEqual(value, defaultValue)) {
        problems.push(
          `setting \`${key}\`: the README's table gives the default ${text === undefined ? '(none)' : `\`${text}\``}, which reads as ${JSON.stringify(value)}; the code's default is ${JSON.stringify(defaultValue)}`,
        );
      }
    }
    const known = new Set(configVariables().map((v) => v.key as string));
    for (const key of documented.keys()) {
      if (!known.has(key))
        problems.push(`the README's configuration table lists \`${key}\`, which loadConfig does not accept`);
    }
    expect(problems).toEqual([]);
  });
});

/** Every command of the program by its path (`""` for `warren` itself, `dlq replay`, …). */
function commandsOf(program: Command): Map<string, Command> {
  const commands = new Map<string, Command>();
  const walk = (command: Command, path: string): void => {
    commands.set(path, command);
    for (const sub of command.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`);
  };
  walk(program, '');
  return commands;
}

/** The flags a command's --help lists (`--json`, `-h`, `--help`, …). */
function flagsOf(command: Command): string[] {
  return command
    .createHelp()
    .visibleOptions(command)
    .flatMap((option) => [option.short, option.long].filter((flag): flag is string => flag !== undefined));
}

/** What `warren <path> --help` prints when stdout is not a terminal (80 columns, no colour). */
function helpOf(command: Command): string {
  let out = '';
  command.configureOutput({
    writeOut: (text) => (out += text),
    getOutHelpWidth: () => 80,
    getOutHasColors: () => false,
  });
  command.outputHelp();
  return out.trimEnd();
}

const label = (path: string): string => (path === '' ? 'warren' : `warren ${path}`);

/** The `$ warren … --help` blocks of a text: command path → what the README shows it printing. */
function helpBlocks(text: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const fence of parseMarkdown(text).fences) {
    let current: { path: string; lines: string[] } | undefined;
    const close = (): void => {
      if (current) blocks.set(current.path, current.lines.join('\n').trimEnd());
      current = undefined;
    };
    for (const line of fence.lines) {
      if (line.startsWith('$ ')) {
        close();
        const help = /^\$ warren((?: [a-z][\w-]*)*) --help$/.exec(line);
        if (help) current = { path: (help[1] ?? '').trim(), lines: [] };
      } else current?.lines.push(line);
    }
    close();
  }
  return blocks;
}

/** A command line or inline code span that names warren commands or flags, with the heading it is under. */
interface Mention {
  readonly text: string;
  /** The command of the (sub)section it appears in, from a heading like "`warren dlq replay`". */
  readonly sectionPath: string;
  readonly where: string;
}

function mentions(reference: string): Mention[] {
  const found: Mention[] = [];
  for (const part of subsections(reference, 3)) {
    const sectionPath = /^`warren((?: [a-z][\w-]*)*)`/.exec(part.heading)?.[1]?.trim() ?? '';
    const where = part.heading === '' ? 'the introduction' : `"${part.heading}"`;
    const { fences, prose } = parseMarkdown(part.text);
    // Command lines in examples; the output shown after them is not a mention.
    for (const fence of fences)
      for (const line of fence.lines) if (/^\$ /.test(line)) found.push({ text: line.slice(2), sectionPath, where });
    for (const text of inlineCode(prose)) found.push({ text, sectionPath, where });
  }
  return found;
}

const PREFIXES = [['warren'], ['npx', 'warren'], ['node', 'bin/warren.js']];

/**
 * Which command a mention is about, and the flags it names. `warren dlq peek --limit 5` names `dlq peek`; in the
 * section of `warren dlq`, `peek <jobType> [--limit N]` does too; a flag on its own (`--json`) belongs to the
 * section's command or one of its subcommands.
 */
function resolve(
  mention: Mention,
  commands: ReadonlyMap<string, Command>,
): { path: string; exact: boolean; flags: string[] } | { problem: string } {
  let tokens = mention.text.split(' ').filter((token) => token !== '');
  while (tokens[0] !== undefined && /^[A-Z_][A-Z0-9_]*=/.test(tokens[0])) tokens = tokens.slice(1);
  const prefix = PREFIXES.find((words) => words.every((word, i) => tokens[i] === word));
  let path = prefix ? '' : mention.sectionPath;
  let rest = prefix ? tokens.slice(prefix.length) : tokens;
  let exact = prefix !== undefined;
  for (;;) {
    const command = commands.get(path);
    const word = rest[0];
    if (!command || word === undefined || command.commands.length === 0 || !/^[a-z][a-z-]*$/.test(word)) break;
    const next = path === '' ? word : `${path} ${word}`;
    if (commands.has(next)) {
      [path, rest, exact] = [next, rest.slice(1), true];
      continue;
    }
    if (prefix && word !== 'help') {
      const known = command.commands.map((sub) => sub.name()).join(', ');
      return {
        problem: `\`${mention.text}\` (under ${mention.where}) names \`${label(next)}\`, which is not a command; \`${label(path)}\` has ${known}`,
      };
    }
    break;
  }
  const flags = rest.flatMap((token) => /^\[?(--?[A-Za-z][\w-]*)/.exec(token)?.[1] ?? []);
  return { path, exact, flags };
}

describe("the README's CLI reference", () => {
  const reference = section(README, (h) => h === 'CLI reference', 2);

  it('names only commands and flags that their --help lists', () => {
    const commands = commandsOf(buildProgram());
    const problems: string[] = [];
    for (const part of subsections(reference, 3)) {
      const heading = /^`warren((?: [a-z][\w-]*)*)`/.exec(part.heading);
      if (heading && !commands.has((heading[1] ?? '').trim()))
        problems.push(`the heading "${part.heading}" names a command that does not exist`);
    }
    for (const path of helpBlocks(reference).keys())
      if (!commands.has(path))
        problems.push(`\`$ ${label(path)} --help\` is shown, but there is no command ${label(path)}`);
    for (const mention of mentions(reference)) {
      const resolved = resolve(mention, commands);
      if ('problem' in resolved) {
        problems.push(resolved.problem);
        continue;
      }
      const command = commands.get(resolved.path);
      if (!command || resolved.flags.length === 0) continue;
      // A flag named on its own may belong to any subcommand of the section's command.
      const scope = resolved.exact
        ? [command]
        : [...commands]
            .filter(([p]) => p === resolved.path || p.startsWith(`${resolved.path} `) || resolved.path === '')
            .map(([, c]) => c);
      const allowed = new Set(scope.flatMap(flagsOf));
      for (const flag of resolved.flags) {
        if (!allowed.has(flag)) {
          problems.push(
            `\`${mention.text}\` (under ${mention.where}): ${flag} is not an option of ${label(resolved.path)}${resolved.exact ? '' : ' or its subcommands'} (--help lists ${[...allowed].join(', ')})`,
          );
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents every command and flag that --help lists, each command with its own --help block', () => {
    const blocks = helpBlocks(reference);
    const problems: string[] = [];
    for (const [path, command] of commandsOf(buildProgram())) {
      const block = blocks.get(path);
      if (block === undefined) {
        problems.push(
          `${label(path)} is a command, but the README's CLI reference has no \`$ ${label(path)} --help\` block`,
        );
        continue;
      }
      for (const flag of flagsOf(command)) {
        const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        if (!new RegExp(`(^|[\\s,\\[])${escaped}(?![\\w-])`, 'm').test(block))
          problems.push(`${label(path)} ${flag} is in --help but not in the README's CLI reference`);
      }
      for (const sub of command.commands)
        if (!new RegExp(`^ {2}${sub.name()}\\b`, 'm').test(block))
          problems.push(
            `${label(path)} ${sub.name()} is a command but the README's \`${label(path)} --help\` does not list it`,
          );
    }
    expect(problems).toEqual([]);
  });

  it("shows each command's --help verbatim", () => {
    const blocks = helpBlocks(reference);
    for (const [path, command] of commandsOf(buildProgram())) {
      const block = blocks.get(path);
      if (block !== undefined) expect.soft(block, `README: $ ${label(path)} --help`).toBe(helpOf(command));
    }
  });
});

describe('the README and docs/', () => {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];

  it.each(files)('name only commands and flags that exist, wherever they write `warren …` (%s)', (file) => {
    const commands = commandsOf(buildProgram());
    const { fences, prose } = parseMarkdown(read(file));
    const lines = [
      ...fences.flatMap((fence) =>
        fence.lines.flatMap((line) =>
          line.startsWith('$ ') ? [line.slice(2)] : ['sh', 'bash', 'shell'].includes(fence.lang) ? [line] : [],
        ),
      ),
      ...inlineCode(prose),
    ];
    // Outside the CLI reference `warren <word>` can be prose or a name (the connection `warren publish <host>:<pid>`):
    // only what starts with a real command, or a flag, is taken as a command line.
    const firstWords = new Set([...commands.keys()].map((path) => path.split(' ')[0]));
    const problems: string[] = [];
    for (const text of lines) {
      const first = /^(?:[A-Z_][A-Z0-9_]*=\S* )*(?:warren|npx warren|node bin\/warren\.js)(?: (\S+)|$)/.exec(text);
      if (!first || (first[1] !== undefined && !first[1].startsWith('-') && !firstWords.has(first[1]))) continue;
      const resolved = resolve({ text, sectionPath: '', where: file }, commands);
      if ('problem' in resolved) problems.push(resolved.problem);
      else if (!resolved.exact) continue;
      else {
        const allowed = new Set(flagsOf(commands.get(resolved.path) as Command));
        for (const flag of resolved.flags)
          if (!allowed.has(flag))
            problems.push(`\`${text}\` (${file}): ${flag} is not an option of ${label(resolved.path)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('the examples in the docs', () => {
  it('show the files of handlers/ as they are', () => {
    const shown = parseMarkdown(README)
      .fences.filter((fence) => /^\/\/ handlers\/[\w-]+\.ts$/.test(fence.lines[0] ?? ''))
      .map((fence) => ({ file: (fence.lines[0] ?? '').slice(3), text: `${fence.lines.slice(1).join('\n')}\n` }));
    expect(shown.map((s) => s.file)).toEqual(
      expect.arrayContaining(['handlers/email-send.ts', 'handlers/report-generate.ts', 'handlers/index.ts']),
    );
    for (const { file, text } of shown) expect.soft(text, `the README's ${file}`).toBe(read(file));
  });

  it('show what warren topology prints for the example handlers', () => {
    const fence = parseMarkdown(README).fences.find((f) => f.lines[0] === '$ warren topology');
    expect(fence, 'a ```$ warren topology``` example in the README').toBeDefined();
    const config = loadConfig({ env: {}, cwd: ROOT });
    const registry = new Registry().add(handlers);
    const printed = formatPlan(planTopology(config, plannedJobs(registry.list(), config)), false);
    expect(`${fence?.lines.slice(1).join('\n')}\n`).toBe(printed);
  });

  it.each(['README.md', 'docs/wire-contract.md'])('give the longest job type the code accepts, in %s', (file) => {
    const text = read(file).replace(/\s+/g, ' ');
    const limits = [
      ...text.matchAll(/job type[^|]{0,200}?dot-separated words[^|]{0,80}?at most (\d+) characters/gi),
    ].map((m) => Number(m[1]));
    expect(limits.length, `${file} states a job type's longest length`).toBeGreaterThan(0);
    for (const limit of limits) expect(limit, `${file}: a job type is at most … characters`).toBe(MAX_JOB_TYPE_LENGTH);
  });
});
