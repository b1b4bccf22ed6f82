import { html, type SafeHtml } from '../html.js';
import type { Overview, OverviewRow, QueueFigures } from '../overview-data.js';
import { count, plural, rate } from './format.js';
import { layout, notice } from './layout.js';
import { href, type PageContext } from './page-context.js';

/** The overview: every job type with its queues, and the retry tiers; its table refreshes itself. */
export function overviewPage(context: PageContext, overview: Overview, readAt: Date): SafeHtml {
  return layout(
    context,
    'Overview',
    'overview',
    html`<h1>Job types</h1>
${overviewTable(context, overview, readAt)}`,
  );
}

/**
 * The part of the overview that refreshes: htmx replaces it with a fresh copy from `/overview/table` every
 * `refreshSeconds` (the response is this same element, so it keeps refreshing). Without JavaScript it is read once.
 */
export function overviewTable(context: PageContext, overview: Overview, readAt: Date): SafeHtml {
  const refresh = href(context, ['overview', 'table']);
  const tiers =
    overview.tiers.length === 0
      ? html`<p class="muted">No retry tiers.</p>`
      : html`<table>
<thead><tr><th>Tier</th><th>Queue</th><th class="num">Waiting</th><th>Used by</th></tr></thead>
<tbody>
${overview.tiers.map(
  (
    tier,
  ) => html`<tr><td>${tier.tier}</td><td>${tier.name}${declaredNote(tier)}</td><td class="num">${count(tier.ready)}</td><td>${tier.usedBy.join(', ') || html`<span class="muted">—</span>`}</td></tr>
`,
)}</tbody>
</table>`;
  return html`<div id="overview-table" hx-get="${refresh}" hx-trigger="every ${context.refreshSeconds}s" hx-swap="outerHTML">
${overview.problems.map((problem) => notice('error', problem))}
${managementNotice(overview)}
${overview.rows.length === 0 ? notice('info', 'No job types: the handlers module registers none, and no queues of this namespace were found.') : jobTable(context, overview.rows)}
<h2>Retry tiers</h2>
<p class="muted">Each tier is one queue shared by every job type of the namespace: a failed job waits there for the tier's delay, then returns to its own queue.</p>
${tiers}
<p class="muted">Read at <time datetime="${readAt.toISOString()}">${readAt.toISOString().slice(11, 19)} UTC</time>; refreshes every ${context.refreshSeconds} s.</p>
</div>`;
}

function managementNotice(overview: Overview): SafeHtml {
  const management = overview.management;
  switch (management.state) {
    case 'used':
      return html`<p class="muted">Ready counts and consumers: passive declares (exact). Unacknowledged counts, rates (sampled every few seconds) and job types found by their queues: RabbitMQ's management API at ${management.where}.</p>`;
    case 'off':
      return notice(
        'info',
        'The management API is turned off: ready counts and consumers come from passive declares; unacknowledged counts, rates and job types that are not in the handlers module are not shown.',
      );
    case 'unreachable':
      return notice(
        'warn',
        html`RabbitMQ's management API at ${management.where} cannot be read (${management.reason}): unacknowledged counts, rates and job types that are not in the handlers module are not shown. Ready counts and consumers come from passive declares.`,
      );
  }
}

function jobTable(context: PageContext, rows: readonly OverviewRow[]): SafeHtml {
  return html`<table>
<thead><tr><th>Job type</th><th class="num">Depth</th><th class="num">Ready</th><th class="num">Unacked</th><th class="num">Consumers</th><th class="num">In</th><th class="num">Delivered</th><th class="num">Acked</th><th class="num">Dead letters</th><th>Retry tiers</th></tr></thead>
<tbody>
${rows.map((row) => jobRow(context, row))}</tbody>
</table>`;
}

function jobRow(context: PageContext, row: OverviewRow): SafeHtml {
  const { job, dead } = row;
  const deadCount = dead.ready ?? 0;
  const deadCell =
    dead.declared === true
      ? html`<a href="${href(context, ['jobs', row.jobType, 'dead-letters'])}" class="${deadCount > 0 ? 'has-dead' : ''}" title="${plural(deadCount, 'dead letter')} in ${dead.name}">${count(dead.ready)}</a>`
      : html`${count(dead.ready)}${declaredNote(dead)}`;
  return html`<tr>
<td><strong>${row.jobType}</strong>${row.registered ? '' : html` <span class="badge" title="found by its queues; the handlers module does not register it">not in handlers</span>`}<br><span class="muted">${job.name}</span>${declaredNote(job)}</td>
<td class="num">${count(job.depth)}</td>
<td class="num">${count(job.ready)}</td>
<td class="num">${count(job.unacknowledged)}</td>
<td class="num">${count(job.consumers)}</td>
<td class="num">${rate(job.publishRate)}</td>
<td class="num">${rate(job.deliverRate)}</td>
<td class="num">${rate(job.ackRate)}</td>
<td class="num">${deadCell}</td>
<td>${row.tiers.join(', ') || html`<span class="muted">—</span>`}</td>
</tr>
`;
}

function declaredNote(queue: QueueFigures): SafeHtml | '' {
  return queue.declared === false
    ? html` <span class="badge" title="no worker has declared it yet">not declared</span>`
    : '';
}
