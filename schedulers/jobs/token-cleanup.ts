import type { JobDeps, RunInput } from './deps.js';

export interface TokenCleanupResult extends Record<string, number> {
  deleted: number;
}

/** Deletes verified and bypassed tokens that have expired; unused ones stay even when expired. */
export async function cleanupExpiredTokens(
  deps: Pick<JobDeps, 'repos'>,
  input: RunInput,
): Promise<TokenCleanupResult> {
  if (input.dryRun) return { deleted: await deps.repos.tokens.countExpiredUsed(input.now) };
  return { deleted: await deps.repos.tokens.deleteExpiredUsed(input.now) };
}
