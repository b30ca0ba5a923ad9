import type { JobOverview } from '../bot/job-control.js';
import type { FinishedRunDoc, RunDoc, RunStatus } from '../db/collections.js';
import { describeSchedule } from './cron-schedule.js';
import type { JobDefinition } from './job.js';

/** What the run history says about one job, turned into what /tasks and the dashboard show. */
export function jobOverview(input: {
  job: JobDefinition;
  /** The schedule in effect; the job definition's own is the environment's (the default). */
  schedule: string;
  timezone: string;
  paused: boolean;
  running: RunDoc | null;
  last: FinishedRunDoc | null;
  counts: Partial<Record<RunStatus, number>>;
  last24h: { succeeded: number; failed: number };
  scheduleOverride: JobOverview['scheduleOverride'];
  nextRun: Date | null;
}): JobOverview {
  const { job, running, last, counts } = input;
  return {
    name: job.name,
    description: job.description,
    schedule: input.schedule,
    scheduleText: describeSchedule(input.schedule, input.timezone),
    timezone: input.timezone,
    paused: input.paused,
    running: running
      ? {
          runId: running._id,
          instance: running.instance,
          trigger: running.trigger,
          startedAt: running.started_at,
        }
      : null,
    lastRun: last
      ? {
          runId: last._id,
          trigger: last.trigger,
          status: last.status,
          startedAt: last.started_at,
          durationMs: last.finished_at ? last.finished_at.getTime() - last.started_at.getTime() : null,
          result: last.result,
          error: last.error,
        }
      : null,
    nextRun: input.nextRun,
    last24h: input.last24h,
    defaultSchedule: job.schedule,
    scheduleOverride: input.scheduleOverride,
    counts: {
      succeeded: counts.succeeded ?? 0,
      failed: counts.failed ?? 0,
      skipped: counts.skipped ?? 0,
      abandoned: counts.abandoned ?? 0,
    },
  };
}
