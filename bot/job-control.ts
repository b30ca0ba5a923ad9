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
  /** Over the whole kept history (RUN_HISTORY_DAYS). */
  counts: { succeeded: number; failed: number; skipped: number; abandoned: number };
  /** Runs that ended in the last 24 hours. */
  last24h: { succeeded: number; failed: number };
  /** The environment's schedule: what `/schedule <job> default` goes back to. */
  defaultSchedule: string;
  /** Set while the bot runs (dashboard, API, /schedule) instead of by the environment. */
  scheduleOverride: { changedAt: Date; changedBy: string | null } | null;
}

export type ScheduleChange =
  | { ok: true; schedule: string; previous: string; isDefault: boolean }
  | { ok: false; problem: string };

export type StartResult =
  | { status: 'started'; runId: string; finished: Promise<RunReport> }
  | { status: 'busy'; reason: string };

export interface JobControl {
  readonly jobNames: readonly string[];
  /** Whether this instance runs the schedules (false with SCHEDULERS_ENABLED=false). */
  readonly isStarted: boolean;
  stats(): Promise<JobOverview[]>;
  /** Claims and runs a job now; skipped when it is running anywhere. */
  runNow(name: string, options?: { requestedBy?: string }): Promise<RunReport>;
  /** Claims a job and starts it without waiting for the end; busy when it runs anywhere. */
  startRun(name: string, options?: { requestedBy?: string }): Promise<StartResult>;
  pause(name: string, by?: string): Promise<void>;
  resume(name: string, by?: string): Promise<void>;
  pauseAll(by?: string): Promise<void>;
  resumeAll(by?: string): Promise<void>;
  /** What is wrong with `expression` as this job's schedule (the environment's rules), or undefined. */
  checkSchedule(name: string, expression: string): Promise<string | undefined>;
  /**
   * Validates, stores in MongoDB and applies a schedule: here at once, on every other instance
   * within 10 seconds, and after restarts. `null` goes back to the environment's schedule.
   * A refused expression changes nothing.
   */
  setSchedule(name: string, expression: string | null, by?: string): Promise<ScheduleChange>;
}
