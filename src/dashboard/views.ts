import type { JobOverview } from '../../bot/job-control.js';
import type { RunDoc } from '../../db/collections.js';
import type { BroadcastSummary } from '../../db/repositories/broadcasts.js';

/**
 * What the API answers, as plain JSON: dates as ISO strings, field names in camelCase. The
 * dashboard's pages read exactly these shapes.
 */

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

export function jobView(job: JobOverview) {
  return {
    name: job.name,
    description: job.description,
    state: job.running ? 'running' : job.paused ? 'paused' : 'idle',
    paused: job.paused,
    schedule: job.schedule,
    scheduleText: job.scheduleText,
    defaultSchedule: job.defaultSchedule,
    scheduleSource: job.scheduleOverride ? 'runtime' : 'environment',
    scheduleChangedAt: iso(job.scheduleOverride?.changedAt),
    scheduleChangedBy: job.scheduleOverride?.changedBy ?? null,
    timezone: job.timezone,
    running: job.running
      ? {
          runId: job.running.runId,
          instance: job.running.instance,
          trigger: job.running.trigger,
          startedAt: iso(job.running.startedAt),
        }
      : null,
    lastRun: job.lastRun
      ? {
          runId: job.lastRun.runId,
          status: job.lastRun.status,
          trigger: job.lastRun.trigger,
          startedAt: iso(job.lastRun.startedAt),
          durationMs: job.lastRun.durationMs,
          result: job.lastRun.result,
          error: job.lastRun.error,
        }
      : null,
    nextRun: iso(job.nextRun),
    last24h: job.last24h,
  };
}

export function runView(run: RunDoc) {
  return {
    id: run._id,
    job: run.job,
    status: run.status,
    trigger: run.trigger,
    slot: iso(run.slot),
    instance: run.instance,
    attempts: run.attempts,
    startedAt: iso(run.started_at),
    finishedAt: iso(run.finished_at),
    durationMs: run.finished_at ? run.finished_at.getTime() - run.started_at.getTime() : null,
    result: run.result,
    error: run.error,
    reason: run.reason ?? null,
    requestedBy: run.requested_by ?? null,
  };
}

export function broadcastView(broadcast: BroadcastSummary, now: Date) {
  const { counts } = broadcast;
  const done = counts.delivered + counts.blocked + counts.failed;
  return {
    id: broadcast._id.toHexString(),
    status: broadcast.status,
    createdAt: iso(broadcast.created_at),
    createdBy: broadcast.created_by,
    finishedAt: iso(broadcast.finished_at),
    deleteAt: iso(broadcast.delete_at),
    expired: broadcast.delete_at.getTime() <= now.getTime(),
    counts,
    /** Recipients handled so far, 0 to 1. */
    progress: counts.total === 0 ? 1 : Math.min(1, done / counts.total),
    cancelRequestedAt: iso(broadcast.cancel_requested_at),
    cancelRequestedBy: broadcast.cancel_requested_by ?? null,
  };
}

/** "Mon 30 Nov 2026, 18:05:00" in the scheduler's time zone. */
export function localTime(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(date);
}
