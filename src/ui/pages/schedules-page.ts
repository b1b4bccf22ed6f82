import { formatDuration } from '../../config/duration.js';
import type { ScheduleStatus } from '../../scheduler/scheduler.js';
import { html, type SafeHtml } from '../html.js';
import { tokenField } from './actions-page.js';
import { time } from './format.js';
import { layout, notice } from './layout.js';
import { href, type PageContext } from './page-context.js';

/** Each schedule with its cron, time zone, next fires and last fire, and "trigger now". */
export function schedulesPage(context: PageContext, schedules: readonly ScheduleStatus[], redis: boolean): SafeHtml {
  const rows = schedules.map(
    (
      s,
    ) => html`<tr><td><strong>${s.name}</strong>${s.catchUpMs > 0 ? html`<br><span class="muted">catch-up ${formatDuration(s.catchUpMs)}</span>` : ''}</td><td><code>${s.cron}</code></td><td>${s.timeZone}</td><td>${s.jobType}</td><td>${s.nextFires.map((fire) => html`${time(fire)}<br>`)}</td><td>${time(s.lastFire)}</td>${context.readOnly ? '' : html`<td><a class="button secondary" href="${href(context, ['schedules', s.name, 'trigger'])}">Trigger now…</a></td>`}</tr>
`,
  );
  const table =
    schedules.length === 0
      ? html`<p class="muted">No schedules: none in the schedules file, and the handlers module exports none.</p>`
      : html`<table>
<thead><tr><th>Schedule</th><th>Cron</th><th>Time zone</th><th>Job type</th><th>Next fires</th><th>Last fire</th>${context.readOnly ? '' : html`<th></th>`}</tr></thead>
<tbody>
${rows}</tbody>
</table>`;
  const body = html`<h1>Schedules</h1>
${redis ? html`<p class="muted">Last fire: the last fire a scheduler published, as recorded in Redis.</p>` : notice('info', 'Redis is not configured (WARREN_REDIS_URL=none): last fires are not recorded.')}
${table}`;
  return layout(context, 'Schedules', 'schedules', body);
}

/** States what triggering a schedule will publish before the POST that does it. */
export function confirmTriggerPage(context: PageContext, schedule: ScheduleStatus, payload: string): SafeHtml {
  const body = html`<h1>Trigger ${schedule.name} now?</h1>
<p>Publish <strong>one job</strong> of <code>${schedule.jobType}</code> now, as the schedule would at a fire, with message id <code>${schedule.name}@&lt;now&gt;</code>, confirmed by RabbitMQ (as <code>warren schedules trigger</code> does). The schedule's own fire times do not change.</p>
<p>Its payload:</p>
<pre>${payload}</pre>
<form method="post" action="${href(context, ['schedules', schedule.name, 'trigger'])}" class="actions">
${tokenField(context)}
<button type="submit">Publish 1 job</button>
<a class="button secondary" href="${href(context, ['schedules'])}">Cancel</a>
</form>`;
  return layout(context, `Trigger ${schedule.name}`, 'schedules', body);
}

/** The result of a trigger. */
export function triggeredPage(context: PageContext, schedule: string, jobType: string, messageId: string): SafeHtml {
  return layout(
    context,
    `Triggered ${schedule}`,
    'schedules',
    html`<h1>Triggered ${schedule}</h1>
${notice('ok', html`Published one job of <code>${jobType}</code> with message id <code>${messageId}</code>; RabbitMQ confirmed it.`)}
<p><a href="${href(context, ['schedules'])}">Schedules</a></p>`,
  );
}
