import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROCESS_OUTCOMES, TRACE_ATTRIBUTES } from 'warren';
import { inlineCode, parseMarkdown, section, table } from '../helpers/markdown.js';

// The tracing docs against the code: every attribute warren sets is in the README's table and nothing else is, and
// the outcomes named are the ones a process span can end with.

const read = (file: string): string => readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
const README = section(read('README.md'), (h) => h === 'Tracing (OpenTelemetry)', 2);
const DOC = read('docs/tracing.md');

describe('the tracing docs', () => {
  it("the README's attribute table lists exactly the attributes warren sets", () => {
    const rows = table(README, ['Attribute', 'On', 'Meaning']);
    const documented = rows.flatMap((row) => inlineCode(row['Attribute'] ?? ''));
    expect(documented.length).toBe(new Set(documented).size);
    expect([...documented].sort()).toEqual(Object.values(TRACE_ATTRIBUTES).sort());
  });

  it('name the outcomes a process span ends with, all of them', () => {
    const outcomeRow = table(README, ['Attribute', 'On', 'Meaning']).find((row) =>
      inlineCode(row['Attribute'] ?? '').includes(TRACE_ATTRIBUTES.outcome),
    );
    expect(inlineCode(outcomeRow?.['Meaning'] ?? '')).toEqual([...PROCESS_OUTCOMES]);
    const outcomes = table(
      section(DOC, (h) => h === 'Process', 3),
      ['Outcome', 'When', 'Also'],
    );
    expect(outcomes.flatMap((row) => inlineCode(row['Outcome'] ?? '')).sort()).toEqual([...PROCESS_OUTCOMES].sort());
  });

  it('show the same preload in the README and docs/tracing.md', () => {
    const preload = (text: string) =>
      parseMarkdown(text)
        .fences.find((fence) => fence.lang === 'js' && (fence.lines[0] ?? '').startsWith('// tracing.mjs'))
        ?.lines.slice(1)
        .join('\n');
    expect(preload(README)).toBeDefined();
    expect(preload(README)).toBe(preload(DOC));
  });
});
