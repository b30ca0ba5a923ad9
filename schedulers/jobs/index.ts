import type { JobName } from '../../src/config.js';
import type { JobContext, JobDefinition } from '../job.js';
import { deleteExpiredBroadcasts } from './broadcast-deleter.js';
import type { JobDeps, RunInput } from './deps.js';
import { deleteDueMessages } from './message-deleter.js';
import { cleanupExpiredTokens } from './token-cleanup.js';
import { resetTokenCounts } from './token-count-reset.js';

export type { JobDeps, RunInput } from './deps.js';
export { cleanupExpiredTokens, deleteDueMessages, deleteExpiredBroadcasts, resetTokenCounts };

const MINUTE = 60_000;

const input = (ctx: JobContext): RunInput => ({
  now: ctx.now,
  clock: ctx.clock,
  signal: ctx.signal,
  logger: ctx.logger,
  dryRun: ctx.dryRun,
  confirmClaim: ctx.confirmClaim,
});

/** The four maintenance jobs of the seed, with their schedules. */
export function createMaintenanceJobs(
  deps: JobDeps,
  schedules: Readonly<Record<JobName, string>>,
): JobDefinition[] {
  return [
    {
      name: 'token-cleanup',
      schedule: schedules['token-cleanup'],
      description: 'Deletes expired verified and bypassed tokens; unused ones are kept.',
      timeoutMs: 10 * MINUTE,
      run: (ctx) => cleanupExpiredTokens(deps, input(ctx)),
    },
    {
      name: 'message-deleter',
      schedule: schedules['message-deleter'],
      description: 'Deletes content whose time is up and leaves a "Click Here" notice to get it again.',
      timeoutMs: 30 * MINUTE,
      run: (ctx) => deleteDueMessages(deps, input(ctx)),
    },
    {
      name: 'broadcast-deleter',
      schedule: schedules['broadcast-deleter'],
      description: "Deletes expired broadcasts from every recipient's chat.",
      // 100,000 recipients at 25 calls per second take a little over an hour; later hourly
      // ticks are skipped while it runs, and an interrupted run resumes where it stopped.
      timeoutMs: 6 * 60 * MINUTE,
      run: (ctx) => deleteExpiredBroadcasts(deps, input(ctx)),
    },
    {
      name: 'token-count-reset',
      schedule: schedules['token-count-reset'],
      description: 'Drops daily token-generation counters of days before today.',
      timeoutMs: 10 * MINUTE,
      run: (ctx) => resetTokenCounts(deps, input(ctx)),
    },
  ];
}
