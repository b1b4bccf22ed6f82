import { html, type HtmlValue, type SafeHtml } from '../html.js';
import { href, type PageContext } from './page-context.js';

/**
 * htmx's settings, read from this meta tag when it loads: no indicator styles (it would inject an inline `<style>`,
 * which the CSP refuses), no eval, no scripts run from swapped content, no history snapshots (pages hold payloads),
 * requests to this origin only.
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  historyCacheSize: 0,
  refreshOnHistoryMiss: true,
  selfRequestsOnly: true,
});

/** Where a page sits in the navigation. */
export type Section = 'overview' | 'schedules' | 'none';

/** The page around a body: head, navigation, main. */
export function layout(context: PageContext, title: string, section: Section, body: HtmlValue): SafeHtml {
  const { head, tail } = layoutParts(context, title, section);
  return html`${head}${body}${tail}`;
}

/** The page around a body in two halves, for a response that streams its body (a replay's progress). */
export function layoutParts(context: PageContext, title: string, section: Section): { head: SafeHtml; tail: SafeHtml } {
  const assets = (name: string): string => href(context, ['assets', name]);
  const link = (to: Section, label: string, path: readonly string[]): SafeHtml =>
    html`<a href="${href(context, path)}"${to === section ? html` aria-current="page"` : ''}>${label}</a>`;
  const head = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${title} · warren</title>
<link rel="icon" href="${assets(context.assets.icon)}" type="image/svg+xml">
<link rel="stylesheet" href="${assets(context.assets.css)}">
<script src="${assets(context.assets.htmx)}" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="${href(context, [])}">warren</a>
<nav>${link('overview', 'Overview', [])}${link('schedules', 'Schedules', ['schedules'])}</nav>
<span class="meta">namespace <strong>${context.namespace}</strong>${context.readOnly ? html` · <span class="badge">read-only</span>` : ''}${context.user === undefined ? '' : html` · ${context.user}`}</span>
</header>
<main>
`;
  const tail = html`
</main>
</body>
</html>
`;
  return { head, tail };
}

/** A notice box: `kind` sets its colour. */
export function notice(kind: 'info' | 'warn' | 'error' | 'ok', body: HtmlValue): SafeHtml {
  return html`<div class="notice ${kind === 'info' ? '' : kind}" role="${kind === 'error' ? 'alert' : 'status'}">${body}</div>`;
}

/** The page shown for a request the UI refuses or cannot answer. */
export function errorPage(context: PageContext, title: string, message: HtmlValue): SafeHtml {
  return layout(
    context,
    title,
    'none',
    html`<h1>${title}</h1>${notice('error', message)}<p><a href="${href(context, [])}">Back to the overview</a></p>`,
  );
}
