import type { ReplaySummary } from '../../dlq/dead-letter-replay.js';
import { html, type SafeHtml } from '../html.js';
import { count, plural } from './format.js';
import { layout, notice } from './layout.js';
import { href, type PageContext } from './page-context.js';

/** The hidden field every state-changing form carries. */
export const CSRF_FIELD = '_csrf';

/** The form field with the page's CSRF token. */
export function tokenField(context: PageContext): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${context.csrfToken}">`;
}

const REPLAY_GUARANTEE =
  'Each dead letter is republished to the job queue with its message id, body and your headers (its failure headers removed, so the handler sees attempt 1), and removed from the dead-letter queue only after RabbitMQ has confirmed its copy. A copy RabbitMQ refuses or does not confirm leaves its dead letter where it is and stops the replay: nothing is lost, whatever happens. This is warren dlq replay.';

/** What a replay confirmation is about. */
export type ReplayTarget =
  | { readonly kind: 'all'; readonly inQueue: number }
  | { readonly kind: 'ids'; readonly ids: readonly string[]; readonly inQueue: number };

/** States what a replay will do, and how many, before the POST that does it. */
export function confirmReplayPage(
  context: PageContext,
  input: {
    readonly jobType: string;
    readonly jobQueue: string;
    readonly deadQueue: string;
    readonly target: ReplayTarget;
    readonly scanLimit: number;
  },
): SafeHtml {
  const { jobType, target } = input;
  const what =
    target.kind === 'all'
      ? html`<p>Replay <strong>all ${plural(target.inQueue, 'dead letter')}</strong> now in <code>${input.deadQueue}</code> to <code>${input.jobQueue}</code>. Dead letters that arrive while it runs wait for the next replay.</p>`
      : html`<p>Replay <strong>${plural(target.ids.length, 'dead letter')}</strong> of <code>${input.deadQueue}</code> (${plural(target.inQueue, 'dead letter')} in it) to <code>${input.jobQueue}</code>, found by message id among the first ${count(input.scanLimit)}: the first dead letter carrying each of</p>
<ul>${target.ids.map((id) => html`<li><code>${id}</code></li>`)}</ul>
<p>The others stay where they are.</p>`;
  const fields =
    target.kind === 'all'
      ? html`<input type="hidden" name="count" value="${target.inQueue}">`
      : target.ids.map((id) => html`<input type="hidden" name="id" value="${id}">`);
  const n = target.kind === 'all' ? target.inQueue : target.ids.length;
  const body = html`<h1>Replay dead letters of ${jobType}?</h1>
${what}
<p class="muted">${REPLAY_GUARANTEE}</p>
<form method="post" action="${href(context, ['jobs', jobType, 'replay'])}" class="actions">
${tokenField(context)}
${fields}
<button type="submit">Replay ${plural(n, 'dead letter')}</button>
<a class="button secondary" href="${href(context, ['jobs', jobType, 'dead-letters'])}">Cancel</a>
</form>`;
  return layout(context, `Replay dead letters of ${jobType}`, 'overview', body);
}

/** States what a purge will delete before the POST that does it. */
export function confirmPurgePage(
  context: PageContext,
  input: { readonly jobType: string; readonly deadQueue: string; readonly inQueue: number },
): SafeHtml {
  const { jobType, inQueue } = input;
  const body = html`<h1>Purge the dead letters of ${jobType}?</h1>
<p>Delete <strong>all ${plural(inQueue, 'dead letter')}</strong> in <code>${input.deadQueue}</code>. This cannot be undone. If more have arrived by the time you confirm, nothing is deleted and you are asked again.</p>
<form method="post" action="${href(context, ['jobs', jobType, 'purge'])}" class="actions">
${tokenField(context)}
<input type="hidden" name="count" value="${inQueue}">
<button type="submit" class="danger">Delete ${plural(inQueue, 'dead letter')}</button>
<a class="button secondary" href="${href(context, ['jobs', jobType, 'dead-letters'])}">Cancel</a>
</form>`;
  return layout(context, `Purge dead letters of ${jobType}`, 'overview', body);
}

/** The opening of a replay's streamed result page: what runs; progress lines follow as list items. */
export function replayStarted(jobType: string, planned: number): SafeHtml {
  return html`<h1>Replaying dead letters of ${jobType}</h1>
<p>Replaying up to ${plural(planned, 'dead letter')}; progress below. Leaving this page does not stop it.</p>
<ol class="progress">
`;
}

/** One progress line of a replay. */
export function replayProgressLine(replayed: number, total: number): SafeHtml {
  return html`<li>replayed ${count(replayed)} of ${count(total)}</li>
`;
}

/** The end of a replay's result page: the summary, as `warren dlq replay` prints it. */
export function replayFinished(context: PageContext, summary: ReplaySummary): SafeHtml {
  const problems = [
    summary.rejected > 0 ? `${summary.rejected} refused by RabbitMQ` : '',
    summary.unroutable > 0 ? `${summary.unroutable} returned unroutable` : '',
    summary.indeterminate > 0
      ? `${summary.indeterminate} not confirmed (their copies may be in ${summary.queue} as well: a new replay sends them again)`
      : '',
  ].filter((part) => part !== '');
  const failed = summary.failure !== undefined || problems.length > 0;
  const text = html`Replayed <strong>${plural(summary.replayed, 'dead letter')}</strong> of ${summary.jobType} to <code>${summary.queue}</code>${problems.map((part) => `; ${part}`)}; ${count(summary.remaining)} left in <code>${summary.deadLetterQueue}</code>${summary.interrupted ? ' (stopped early)' : ''}.`;
  const notFound =
    summary.notFound && summary.notFound.length > 0
      ? notice(
          'warn',
          html`Not found among the dead letters looked through: ${summary.notFound.join(', ')} (replayed or purged meanwhile, or further back in the queue).`,
        )
      : '';
  return html`</ol>
${notice(failed ? 'error' : 'ok', text)}
${summary.failure ? notice('error', html`The replay stopped: ${summary.failure.message}`) : ''}
${notFound}
${backLinks(context, summary.jobType)}`;
}

/** The end of a replay that could not start or broke off. */
export function replayFailed(context: PageContext, jobType: string, message: string): SafeHtml {
  return html`</ol>
${notice('error', html`The replay did not run to its end: ${message}. Nothing was lost: a dead letter is removed only after its copy is confirmed; replaying again is safe.`)}
${backLinks(context, jobType)}`;
}

/** The result of a purge. */
export function purgedPage(
  context: PageContext,
  input: { readonly jobType: string; readonly deadQueue: string; readonly purged: number },
): SafeHtml {
  return layout(
    context,
    `Purged dead letters of ${input.jobType}`,
    'overview',
    html`<h1>Purged dead letters of ${input.jobType}</h1>
${notice('ok', html`Deleted ${plural(input.purged, 'dead letter')} from <code>${input.deadQueue}</code>.`)}
${backLinks(context, input.jobType)}`,
  );
}

function backLinks(context: PageContext, jobType: string): SafeHtml {
  return html`<p class="actions"><a href="${href(context, ['jobs', jobType, 'dead-letters'])}">Dead letters of ${jobType}</a> <a href="${href(context, [])}">Overview</a></p>`;
}
