/** A titled table, rendered aligned for the terminal and as Markdown for the report. */
export interface Section {
  readonly title: string;
  readonly note?: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Per column: `l` left or `r` right; default: the first column left, the others right. */
  readonly align?: ReadonlyArray<'l' | 'r'>;
}

const width = (text: string): number => [...text].length;

export function renderText(section: Section): string {
  const all = [section.columns, ...section.rows];
  const widths = section.columns.map((_, i) => Math.max(...all.map((row) => width(row[i] ?? ''))));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - width(cell));
        const left = (section.align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l';
        return left ? cell + pad : pad + cell;
      })
      .join('  ')
      .trimEnd();
  const out = [section.title];
  if (section.note) out.push(`  ${section.note}`);
  out.push(`  ${line(section.columns)}`, `  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of section.rows) out.push(`  ${line(row)}`);
  return out.join('\n');
}

export function renderMarkdown(section: Section): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const out = [`### ${section.title}`, ''];
  if (section.note) out.push(section.note, '');
  out.push(`| ${section.columns.map(escape).join(' | ')} |`);
  out.push(
    `| ${section.columns.map((_, i) => ((section.align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? '---' : '---:')).join(' | ')} |`,
  );
  for (const row of section.rows) out.push(`| ${row.map(escape).join(' | ')} |`);
  return out.join('\n');
}

/** `1234.5` → `1,235`. */
export function int(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
}

export function fixed(digits: number): (value: number) => string {
  return (value) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
}
