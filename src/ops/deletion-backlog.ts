/** What the metrics and the lag alert need from the pending-deletions repository. */
export interface DeletionBacklogSource {
  countDue(now: Date): Promise<number>;
  oldestDue(now: Date): Promise<{ delete_at: Date } | null>;
}

export interface DeletionBacklog {
  /** Deletions whose time has come and that are still waiting. */
  due: number;
  /** How long the oldest of them has been waiting; 0 when nothing is due. */
  oldestOverdueMs: number;
}

export async function readDeletionBacklog(
  source: DeletionBacklogSource,
  now: Date,
): Promise<DeletionBacklog> {
  const [due, oldest] = await Promise.all([source.countDue(now), source.oldestDue(now)]);
  return {
    due,
    oldestOverdueMs: oldest === null ? 0 : Math.max(0, now.getTime() - oldest.delete_at.getTime()),
  };
}
