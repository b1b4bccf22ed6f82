import { html, type SafeHtml } from '../html.js';

/** Formatting shared by the pages. Pure. */

/** A count, or a dash for "not known". */
export function count(value: number | undefined): string {
  return value === undefined ? '—' : value.toLocaleString('en-US');
}

/** A rate per second, or a dash for "not known". */
export function rate(value: number | undefined): string {
  if (value === undefined) return '—';
  return `${value >= 10 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)}/s`;
}

/** `3 dead letters`, `1 dead letter`. */
export function plural(value: number, noun: string): string {
  return `${value.toLocaleString('en-US')} ${noun}${value === 1 ? '' : 's'}`;
}

/** An ISO time as `2026-03-02 10:25:41 UTC` in a `<time>` element, or a dash. */
export function time(iso: string | undefined | null): SafeHtml {
  if (iso === undefined || iso === null || iso === '') return html`<span class="muted">—</span>`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return html`${iso}`;
  const shown = `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  return html`<time datetime="${date.toISOString()}" class="nowrap">${shown}</time>`;
}

/** A value or a muted dash. */
export function orDash(value: string | number | undefined): SafeHtml {
  return value === undefined || value === '' ? html`<span class="muted">—</span>` : html`${value}`;
}
