import { describe, expect, it } from 'vitest';
import { escapeHtml, html, joinHtml, SafeHtml } from '../../../src/ui/html.js';

describe('the html template tag', () => {
  it('escapes every interpolation: markup, attribute breakouts and quotes become text', () => {
    const hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\'`&';
    const out = html`<td title="${hostile}">${hostile}</td>`.toString();
    expect(out).toBe(
      '<td title="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;&#96;&amp;">' +
        '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;&#96;&amp;</td>',
    );
    expect(out).not.toMatch(/<script|<img/);
  });

  it('keeps nested templates as markup, escapes the text inside them, and renders lists and nothing', () => {
    const items = ['a<b', 'c&d'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.toString()).toBe(
      '<ul><li>a&lt;b</li><li>c&amp;d</li></ul>0',
    );
    expect(joinHtml(['<x>', html`<br>`], ', ').toString()).toBe('&lt;x&gt;, <br>');
  });

  it('has no way to wrap a string as markup outside the tag', () => {
    const forge = SafeHtml as unknown as new (mint: symbol, markup: string) => SafeHtml;
    expect(() => new forge(Symbol('SafeHtml'), '<script>')).toThrow(TypeError);
    expect(html`${'<b>'}`.toString()).toBe('&lt;b&gt;');
  });

  it('escapeHtml leaves ordinary text alone', () => {
    expect(escapeHtml('email.send 421 try again later')).toBe('email.send 421 try again later');
  });
});
