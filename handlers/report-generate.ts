import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Job, type JobContext } from 'warren';

/** Payload of `report.generate`. */
export const ReportGenerateSchema = z.object({
  reportId: z.string().min(1),
  kind: z.enum(['daily-sales', 'inventory', 'audit']),
  from: z.iso.date(),
  to: z.iso.date(),
});

export type ReportGenerate = z.output<typeof ReportGenerateSchema>;

/** Builds reports. A job defined with the `@Job` decorator on a class method. */
export class Reports {
  @Job('report.generate', { schema: ReportGenerateSchema, concurrency: 2, timeoutMs: 120_000 })
  async generate(payload: ReportGenerate, ctx: JobContext): Promise<void> {
    ctx.logger.info({ reportId: payload.reportId, kind: payload.kind }, 'generating report');
    // Stand-in for the real work; long jobs should pass ctx.signal on to whatever they await.
    await sleep(50, undefined, { signal: ctx.signal });
    ctx.logger.info({ reportId: payload.reportId }, 'report ready');
  }
}
