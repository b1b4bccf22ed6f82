import type { HandlerEntry } from 'warren';
import { sendEmail } from './email-send.js';
import { Reports } from './report-generate.js';

export { EmailSendSchema } from './email-send.js';
export { ReportGenerateSchema } from './report-generate.js';

/** The handlers `warren start` runs: `defineJob` results and classes with `@Job` methods. */
export const handlers: HandlerEntry[] = [sendEmail, Reports];
