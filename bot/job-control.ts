/**
 * What the bot's admin features need from the schedulers. The bot owns this interface, so it
 * depends on nothing above it; the scheduler runtime provides it (and uses these types itself).
 */

export type RunTrigger = 'scheduled' | 'manual' | 'catch-up';
export type FinishedRunStatus = 'succeeded' | 'failed' | 'skipped' | 'abandoned';

/** Small counts a job reports about one run, such as `{deleted: 12}`. */
export type JobResult = Record<string, number>;

export interface RunReport {
  runId: string;
  job: string;
  trigger: RunTrigger;
  status: FinishedRunStatus;
  attempts: number;
  durationMs: number;
  result: JobResult | null;
  error: string | null;
  /** For skipped runs: what held the job. */
  reason?: string;
}

export interface JobOverview {
  name: string;
  description: string;
  schedule: string;
  scheduleText: string;
  timezone: string;
  paused: boolean;
  /** Running here or on another instance. */
  running: { runId: string; instance: string; trigger: RunTrigger; startedAt: Date } | null;
  lastRun: {
    runId: string;
    trigger: RunTrigger;
    status: FinishedRunStatus;
    startedAt: Date;
    durationMs: number | null;
    result: JobResult | null;
    error: string | null;
  } | null;
  nextRun: Date | null;
  counts: { succeeded: number; failed: number; skipped: number; abandoned: number };
}

export interface JobControl {
  readonly jobNames: readonly string[];
  /** Whether this instance runs the schedules (false with SCHEDULERS_ENABLED=false). */
  readonly isStarted: boolean;
  stats(): Promise<JobOverview[]>;
  /** Claims and runs a job now; skipped when it is running anywhere. */
  runNow(name: string, options?: { requestedBy?: string }): Promise<RunReport>;
  pause(name: string, by?: string): Promise<void>;
  resume(name: string, by?: string): Promise<void>;
}
