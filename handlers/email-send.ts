import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { NonRetryableError, defineJob } from 'warren';

/** Payload of `email.send`. */
export const EmailSendSchema = z.object({
  to: z.email(),
  subject: z.string().min(1).max(200),
  body: z.string(),
  /** Optional template; unknown templates can never succeed. */
  template: z.string().optional(),
});

const TEMPLATES = new Set(['welcome', 'password-reset', 'receipt']);

/** Sends one e-mail (here: simulated). A job defined with the function form. */
export const sendEmail = defineJob(
  'email.send',
  async (payload, ctx) => {
    if (payload.template !== undefined && !TEMPLATES.has(payload.template)) {
      throw new NonRetryableError(`unknown e-mail template "${payload.template}"`);
    }
    // Stand-in for an SMTP or API call; honours the signal so timeouts and shutdown can cut it short.
    await sleep(5, undefined, { signal: ctx.signal });
    ctx.logger.info({ to: payload.to, subject: payload.subject }, 'e-mail sent');
  },
  { schema: EmailSendSchema, concurrency: 20, timeoutMs: 30_000 },
);
