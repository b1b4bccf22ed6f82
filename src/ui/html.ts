/**
 * The one way the web UI writes HTML: every page and fragment is built with the {@link html} tag, which escapes
 * each interpolated value unless it is itself {@link SafeHtml} (made by the tag). Payloads, error messages, stacks,
 * header values, queue names: all of it reaches the page through here, as text. Pure.
 */

/** Held by this module only: what makes a {@link SafeHtml}, so that no other code can wrap a string as markup. */
const MINT: unique symbol = Symbol('SafeHtml');

/** HTML made by {@link html}: its text is markup, safe to insert as it is. Nothing else can make one. */
export class SafeHtml {
  readonly #markup: string;

  constructor(mint: typeof MINT, markup: string) {
    if (mint !== MINT) throw new TypeError('SafeHtml is made by the html tag only');
    this.#markup = markup;
  }

  toString(): string {
    return this.#markup;
  }
}

/** What an interpolation may be: text (escaped), markup from {@link html}, a list of either, or nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/**
 * Text as HTML text or as the value of a quoted attribute: `& < > " ' \`` become entities. Safe in element content
 * and inside a quoted attribute, which is the only way the templates write attributes.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => ESCAPES[char] ?? char);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(value));
}

/**
 * The template tag: `html\`<td>${text}</td>\`` escapes `text`; a nested `html\`…\`` (or a list of them) is kept as
 * markup; `null`, `undefined` and `false` render as nothing (for `${cond && html\`…\`}`).
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0] ?? '';
  values.forEach((value, index) => {
    markup += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(MINT, markup);
}

/** Values joined with a separator, each escaped as in {@link html}. */
export function joinHtml(values: readonly HtmlValue[], separator: HtmlValue): SafeHtml {
  return new SafeHtml(MINT, values.map(render).join(render(separator)));
}
