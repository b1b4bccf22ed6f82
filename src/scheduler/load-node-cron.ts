import { createRequire } from 'node:module';
import type * as NodeCron from 'node-cron';

/**
 * node-cron, loaded at first use (validating a schedule, starting a scheduler) rather than by importing warren: an
 * application without schedules never pays for it. node-cron 4 ships CommonJS and ESM builds; this takes the
 * CommonJS one (loadable synchronously, as `defineSchedule` needs), and every warren module loads it from here so
 * they share one copy of its task registry.
 */
export function loadNodeCron(): typeof NodeCron {
  return createRequire(import.meta.url)('node-cron') as typeof NodeCron;
}
