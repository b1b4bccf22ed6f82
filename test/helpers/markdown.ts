/** Just enough Markdown reading for the docs tests: sections, fenced blocks, inline code and tables. */

/** A fenced code block. */
export interface Fence {
  /** The info string after the opening fence (`ts`, `sh`, or empty). */
  readonly lang: string;
  readonly lines: readonly string[];
}

/** A document split into its fenced blocks and the prose between them. */
export interface Parsed {
  readonly fences: readonly Fence[];
  /** Every line outside fences, in order. */
  readonly prose: string;
}

/** Splits Markdown into fenced blocks (``` only) and prose. */
export function parseMarkdown(text: string): Parsed {
  const fences: Fence[] = [];
  const prose: string[] = [];
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      if (open) {
        fences.push(open);
        open = undefined;
      } else open = { lang: (fence[1] ?? '').trim(), lines: [] };
    } else if (open) open.lines.push(line);
    else prose.push(line);
  }
  if (open) throw new Error(`an unclosed code fence (\`\`\`${open.lang})`);
  return { fences, prose: prose.join('\n') };
}

/**
 * The part of `text` under the heading that `matches`, up to the next heading of the same or a higher level.
 * Headings inside code fences are ignored.
 */
export function section(text: string, matches: (heading: string) => boolean, level: number): string {
  const lines = text.split('\n');
  let inFence = false;
  let start = -1;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (/^\s*```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const heading = /^(#{1,6}) (.*)$/.exec(line);
    if (!heading) continue;
    const depth = heading[1]?.length ?? 0;
    if (start >= 0 && depth <= level) return lines.slice(start, i).join('\n');
    if (start < 0 && depth === level && matches(heading[2] ?? '')) start = i;
  }
  if (start < 0) throw new Error(`no level-${level} heading matches`);
  return lines.slice(start).join('\n');
}

/** The sub-sections of `text` at `level`, each with its heading text. */
export function subsections(text: string, level: number): Array<{ heading: string; text: string }> {
  const result: Array<{ heading: string; lines: string[] }> = [{ heading: '', lines: [] }];
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (heading && (heading[1]?.length ?? 0) >= level) result.push({ heading: heading[2] ?? '', lines: [] });
    (result[result.length - 1]?.lines ?? []).push(line);
  }
  return result.map(({ heading, lines }) => ({ heading, text: lines.join('\n') }));
}

/** The contents of every inline code span (`…`) in prose. */
export function inlineCode(prose: string): string[] {
  return [...prose.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\s+/g, ' ').trim());
}

/** The rows of the table whose header row is exactly `header` (cells trimmed), as objects keyed by header cell. */
export function table(text: string, header: readonly string[]): Array<Record<string, string>> {
  const cells = (line: string): string[] =>
    line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.trim().startsWith('|') && cells(line).join('|') === header.join('|'));
  if (at < 0) throw new Error(`no table with the header | ${header.join(' | ')} |`);
  const rows: Array<Record<string, string>> = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.trim().startsWith('|')) break;
    const values = cells(line);
    rows.push(Object.fromEntries(header.map((name, i) => [name, values[i] ?? ''])));
  }
  return rows;
}
