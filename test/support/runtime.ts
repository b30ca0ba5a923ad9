import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { getCollections } from '../../db/collections.js';
import { JobControlsRepository } from '../../db/repositories/job-controls.js';
import { RunsRepository } from '../../db/repositories/runs.js';
import { SchedulerRuntime, type SchedulerRuntimeOptions } from '../../schedulers/runtime.js';

export type TestRuntimeOptions = Omit<SchedulerRuntimeOptions, 'runs' | 'controls'> & {
  db: Db;
  instanceId?: string;
  /** A claim without heartbeat for this long is abandoned (default 60 s). */
  leaseMs?: number;
  historyDays?: number;
};

/** A scheduler runtime on a test database, with the repositories the wiring would give it. */
export function testRuntime({
  db,
  instanceId,
  leaseMs,
  historyDays,
  ...options
}: TestRuntimeOptions): SchedulerRuntime {
  const collections = getCollections(db);
  return new SchedulerRuntime({
    ...options,
    runs: new RunsRepository(collections.runs, {
      instanceId: instanceId ?? `test:${randomUUID().slice(0, 8)}`,
      historyMs: (historyDays ?? 30) * 86_400_000,
      leaseMs: leaseMs ?? 60_000,
    }),
    controls: new JobControlsRepository(collections.jobControls),
  });
}
