import { localDate } from '../../db/calendar.js';
import type { JobDeps, RunInput } from './deps.js';

export interface TokenCountResetResult extends Record<string, number> {
  deleted: number;
}

/** Drops daily token-generation counters of days before today, "today" in SCHEDULER_TIMEZONE. */
export async function resetTokenCounts(
  deps: Pick<JobDeps, 'repos' | 'timezone'>,
  input: RunInput,
): Promise<TokenCountResetResult> {
  const today = localDate(input.now, deps.timezone);
  if (input.dryRun) return { deleted: await deps.repos.tokenCounts.countBefore(today) };
  const deleted = await deps.repos.tokenCounts.deleteBefore(today);
  input.logger.debug({ today, deleted }, 'token counters before today removed');
  return { deleted };
}
