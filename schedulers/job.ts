import type { Logger } from 'pino';
import type { FinishedRunStatus, JobResult, RunTrigger } from '../bot/job-control.js';

export type { JobResult } from '../bot/job-control.js';
export type Trigger = RunTrigger;
export type RunStatus = 'running' | FinishedRunStatus;

export interface JobContext {
  readonly job: string;
  readonly runId: string;
  readonly trigger: Trigger;
  /** The scheduled time this run stands for; null for manual runs. */
  readonly slot: Date | null;
  /** "Now" for the job's queries, from the runtime's clock (injectable in tests). */
  readonly now: Date;
  /** The runtime's clock, for jobs that run long enough to need a later "now". */
  readonly clock: () => Date;
  /** Aborted when the scheduler stops, the run times out or its claim is lost: stop between batches. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly attempt: number;
  /** Report what would change without changing anything. */
  readonly dryRun: boolean;
  /**
   * Resolves while the run still holds its claim; throws once another instance declared it
   * abandoned. Call it before side effects that must not happen twice (a batch of notices).
   */
  confirmClaim(): Promise<void>;
}

export interface RetryPolicy {
  /** Total attempts per run, the first one included. */
  attempts: number;
  /** Delay before the second attempt; doubles after every further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface JobDefinition {
  name: string;
  /** node-cron expression, 5 fields or 6 with seconds. */
  schedule: string;
  /** One sentence for operators: what the job does. */
  description: string;
  run(ctx: JobContext): Promise<JobResult>;
  retry?: Partial<RetryPolicy>;
  /** Each attempt is aborted after this long. */
  timeoutMs?: number;
  /** Run once at start-up when the bot was down at the latest scheduled time (default true). */
  catchUp?: boolean;
}

export class UnknownJobError extends Error {
  override readonly name = 'UnknownJobError';
  constructor(
    readonly requested: string,
    readonly known: readonly string[],
  ) {
    super(`unknown job "${requested}"; valid jobs are: ${known.join(', ')}`);
  }
}
