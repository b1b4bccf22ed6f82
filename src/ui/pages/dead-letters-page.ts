import type { DeadLetterDetail } from '../dead-letter-detail.js';
import type { DeadLetterList, DeadLetterRow } from '../dead-letter-list.js';
import { html, type SafeHtml } from '../html.js';
import { tokenField } from './actions-page.js';
import { count, orDash, plural, time } from './format.js';
import { layout, notice } from './layout.js';
import { href, type PageContext } from './page-context.js';

/** Query parameters of a list link: the filter, the page, and the opt-in to read a legacy queue. */
function listQuery(
  list: Pick<DeadLetterList, 'query'>,
  page: number,
  legacy: boolean,
): Record<string, string | number | undefined> {
  return {
    reason: list.query.reason,
    q: list.query.text,
    page: page > 1 ? page : undefined,
    legacy: legacy ? '1' : undefined,
  };
}

/** The paged, filtered list of a job type's dead letters, with the actions on them. */
export function deadLettersPage(
  context: PageContext,
  list: DeadLetterList,
  legacyWarning: string,
  readLegacy: boolean,
): SafeHtml {
  const jobType = list.jobType;
  const base = ['jobs', jobType, 'dead-letters'];
  const filtered = list.query.reason !== '' || list.query.text !== '';
  const legacy = readLegacy ? '1' : undefined;
  const scope =
    list.read < list.inQueue
      ? html`Filters and pages apply to the first ${count(list.read)} from the head of the queue (the UI reads at most ${count(list.scanLimit)}); the others are not shown.`
      : list.inQueue === 0
        ? ''
        : html`All of them were read; they stay in the queue.`;
  const legacyNotice = list.unreadLegacy
    ? notice(
        'warn',
        html`${legacyWarning}. They were not read. <a href="${href(context, base, { legacy: '1' })}">Read them anyway</a> (each read counts toward that limit on RabbitMQ 4.0-4.2).`,
      )
    : readLegacy
      ? notice('warn', legacyWarning)
      : '';
  const reasons = list.reasons.map(
    ([reason, n]) =>
      html`<option value="${reason}"${reason === list.query.reason ? html` selected` : ''}>${reason || '(none)'} (${count(n)})</option>`,
  );
  const empty = list.inQueue === 0 ? 'The dead-letter queue is empty.' : list.unreadLegacy ? '' : 'None of them match.';
  const body = html`<h1>Dead letters of ${jobType}</h1>
<p>${plural(list.inQueue, 'dead letter')} in <code>${list.queue}</code>. ${scope}</p>
${legacyNotice}
${actionBar(context, list)}
<form class="filter" method="get" action="${href(context, base)}">
${readLegacy ? html`<input type="hidden" name="legacy" value="1">` : ''}
<label>Reason
<select name="reason">
<option value="">any</option>
${reasons}
</select>
</label>
<label>Text in the error or message id
<input type="search" name="q" value="${list.query.text}" size="30">
</label>
<button type="submit" class="secondary">Filter</button>
${filtered ? html`<a href="${href(context, base, { legacy })}">Clear</a>` : ''}
</form>
${filtered ? html`<p>${plural(list.matching, 'dead letter')} of the ${count(list.read)} read match.</p>` : ''}
${list.rows.length === 0 ? html`<p class="muted">${empty}</p>` : rowsTable(context, list, readLegacy)}
${pager(context, list, readLegacy)}`;
  return layout(context, `Dead letters of ${jobType}`, 'overview', body);
}

function actionBar(context: PageContext, list: DeadLetterList): SafeHtml | '' {
  if (context.readOnly || list.inQueue === 0) return '';
  const jobType = list.jobType;
  return html`<div class="actions">
<a class="button" href="${href(context, ['jobs', jobType, 'replay'], { all: '1' })}">Replay all ${count(list.inQueue)}…</a>
<a class="button danger" href="${href(context, ['jobs', jobType, 'purge'])}">Purge all ${count(list.inQueue)}…</a>
</div>`;
}

function rowsTable(context: PageContext, list: DeadLetterList, readLegacy: boolean): SafeHtml {
  const selectable = !context.readOnly;
  const table = html`<table>
<thead><tr>${selectable ? html`<th><span class="muted">Select</span></th>` : ''}<th class="num">#</th><th>Message id</th><th>Reason</th><th>Error</th><th class="num">Attempts</th><th>First failure</th><th>Last failure</th><th>Worker</th></tr></thead>
<tbody>
${list.rows.map((row) => rowHtml(context, list.jobType, row, selectable, readLegacy))}</tbody>
</table>`;
  if (!selectable) return table;
  // A plain GET form: the selection goes to the confirmation page, which states what will happen before anything does.
  return html`<form method="get" action="${href(context, ['jobs', list.jobType, 'replay'])}">
${table}
<div class="actions"><button type="submit" class="secondary">Replay selected…</button></div>
</form>`;
}

function rowHtml(
  context: PageContext,
  jobType: string,
  row: DeadLetterRow,
  selectable: boolean,
  readLegacy: boolean,
): SafeHtml {
  const detail = href(context, ['jobs', jobType, 'dead-letters', row.identity], {
    legacy: readLegacy ? '1' : undefined,
  });
  const error =
    row.errorName === undefined && row.errorMessage === undefined
      ? html`<span class="muted">—</span>`
      : html`<strong>${row.errorName ?? 'Error'}</strong>: ${row.errorMessage ?? ''}`;
  const attempts =
    row.deliveries === undefined
      ? orDash(row.attempts)
      : html`${orDash(row.attempts)} <span class="muted">(delivered ${row.deliveries}×)</span>`;
  const worker =
    row.workerHost === undefined
      ? orDash(undefined)
      : html`${row.workerHost}${row.workerPid === undefined ? '' : html` <span class="muted">pid ${row.workerPid}</span>`}`;
  const select = !selectable
    ? ''
    : row.messageId === undefined
      ? html`<td><span class="muted" title="a dead letter without a message id is replayed with all of them only">—</span></td>`
      : html`<td><input type="checkbox" name="id" value="${row.messageId}" aria-label="select ${row.messageId}"></td>`;
  return html`<tr>${select}<td class="num">${row.position}</td><td><a href="${detail}">${row.messageId ?? '(no message id)'}</a></td><td>${orDash(row.reason)}</td><td class="error-text">${error}</td><td class="num">${attempts}</td><td>${time(row.firstFailureAt)}</td><td>${time(row.lastFailureAt)}</td><td>${worker}</td></tr>
`;
}

function pager(context: PageContext, list: DeadLetterList, readLegacy: boolean): SafeHtml | '' {
  if (list.pageCount <= 1) return '';
  const base = ['jobs', list.jobType, 'dead-letters'];
  const page = Math.min(list.query.page, list.pageCount);
  return html`<nav class="pager" aria-label="pages">
${page > 1 ? html`<a href="${href(context, base, listQuery(list, page - 1, readLegacy))}" rel="prev">← Previous</a>` : ''}
<span>Page ${page} of ${list.pageCount}</span>
${page < list.pageCount ? html`<a href="${href(context, base, listQuery(list, page + 1, readLegacy))}" rel="next">Next →</a>` : ''}
</nav>`;
}

/** One dead letter: every fact of its context, the payload, every header, the stack. */
export function deadLetterPage(
  context: PageContext,
  detail: DeadLetterDetail,
  fullHref: string,
  listHref: string,
): SafeHtml {
  const c = detail.context;
  const field = (name: string, value: SafeHtml | string | number | undefined): SafeHtml =>
    html`<dt>${name}</dt><dd>${value === undefined ? html`<span class="muted">—</span>` : value}</dd>
`;
  const payload = detail.payload;
  const from =
    c.originalQueue === undefined
      ? undefined
      : `${c.originalQueue}${c.originalRoutingKey === undefined ? '' : ` (routing key ${c.originalRoutingKey})`}`;
  const worker =
    c.workerHost === undefined ? undefined : `${c.workerHost}${c.workerPid === undefined ? '' : ` pid ${c.workerPid}`}`;
  const source = c.source === 'warren' ? 'a warren worker' : c.source === 'broker' ? 'RabbitMQ (x-death)' : 'unknown';
  const format =
    payload.format === 'json'
      ? 'JSON, pretty-printed'
      : payload.format === 'base64'
        ? 'not UTF-8: shown as base64'
        : 'text';
  const editable = payload.format !== 'base64';
  const replay =
    context.readOnly || c.messageId === undefined
      ? ''
      : html`<div class="actions"><a class="button" href="${href(context, ['jobs', detail.jobType, 'replay'], { id: c.messageId })}">Replay this dead letter…</a>${editable ? html` <a class="button secondary" href="${href(context, ['jobs', detail.jobType, 'dead-letters', c.identity, 'edit'])}">Edit and replay…</a>` : ''}</div>`;
  const body = html`<p><a href="${listHref}">← Dead letters of ${detail.jobType}</a></p>
<h1>Dead letter ${c.messageId ?? '(no message id)'}</h1>
${replay}
<dl class="fields">
${field('Message id', c.messageId)}${field('Identity', c.identity)}${field('Place in the queue', `${detail.position} from the head of ${detail.queue}`)}${field('Dead-lettered by', source)}${field('Reason', c.reason)}${field('Attempts', c.attempts)}${c.deliveries === undefined ? '' : field('Deliveries', c.deliveries)}${field('Error', c.errorName)}${field('Error message', c.errorMessage)}${field('First failure', time(c.firstFailureAt))}${field('Last failure', time(c.lastFailureAt))}${field('From', from)}${field('Worker', worker)}${c.deaths === undefined ? '' : field('Dead-lettered by RabbitMQ', `${c.deaths}×`)}${c.replayOf === undefined ? '' : field('Replay of', c.replayOf)}${field('Type', c.type)}${field('Content type', c.contentType)}${field('Published', time(c.publishedAt))}</dl>
<h2>Payload</h2>
<p class="muted">${plural(payload.bytes, 'byte')}, ${format}.</p>
<pre>${payload.text}</pre>
${payload.truncated ? html`<p>Showing the first ${count(payload.text.length)} of ${count(payload.totalChars)} characters. <a href="${fullHref}">Show all</a></p>` : ''}
<h2>Stack</h2>
${c.errorStack === undefined ? html`<p class="muted">No stack recorded.</p>` : html`<pre>${c.errorStack}</pre>`}
<h2>warren's headers (x-warren-*)</h2>
${headerTable(detail.warrenHeaders)}
<h2>Other headers</h2>
${headerTable(detail.otherHeaders)}`;
  return layout(context, `Dead letter ${c.messageId ?? c.identity}`, 'overview', body);
}

function headerTable(headers: DeadLetterDetail['warrenHeaders']): SafeHtml {
  if (headers.length === 0) return html`<p class="muted">None.</p>`;
  return html`<table>
<thead><tr><th>Header</th><th>Value</th></tr></thead>
<tbody>
${headers.map(
  (
    header,
  ) => html`<tr><td class="nowrap"><code>${header.name}</code></td><td class="error-text">${header.value}</td></tr>
`,
)}</tbody>
</table>`;
}

/** The payload of one dead letter in a text area, to fix and replay; the page states what the POST will do. */
export function editPage(
  context: PageContext,
  input: {
    readonly jobType: string;
    readonly messageId: string;
    readonly jobQueue: string;
    readonly payload: string;
    /** The job type has a schema the edited payload is checked against. */
    readonly schema: boolean;
    /** Why the last attempt was refused. */
    readonly problem?: string;
  },
): SafeHtml {
  const { jobType, messageId } = input;
  const body = html`<h1>Edit and replay ${messageId}</h1>
${input.problem === undefined ? '' : notice('error', input.problem)}
<p>Replay the dead letter <code>${messageId}</code> of ${jobType} to <code>${input.jobQueue}</code> with the payload below instead of its own: published as JSON with its message id and headers (its failure headers removed, so the handler sees attempt 1), and removed from the dead-letter queue only once RabbitMQ has confirmed the copy. The payload must be JSON${input.schema ? html`, valid against the schema of ${jobType}` : ''}; nothing is replayed otherwise.</p>
<form method="post" action="${href(context, ['jobs', jobType, 'edit'])}">
${tokenField(context)}
<input type="hidden" name="id" value="${messageId}">
<p><textarea name="payload" rows="20" cols="100" spellcheck="false" aria-label="payload">${input.payload}</textarea></p>
<div class="actions">
<button type="submit">Replay 1 dead letter with this payload</button>
<a class="button secondary" href="${href(context, ['jobs', jobType, 'dead-letters'])}">Cancel</a>
</div>
</form>`;
  return layout(context, `Edit and replay ${messageId}`, 'overview', body);
}
