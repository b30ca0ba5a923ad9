import type { JobContext, JobDefinition, JobResult } from '../job.js';
import { backupDatabase } from './backup.js';
import { deleteExpiredBroadcasts } from './broadcast-deleter.js';
import type { JobDeps, RunInput } from './deps.js';
import { sendDigest } from './digest.js';
import { deleteDueMessages } from './message-deleter.js';
import { cleanupExpiredTokens } from './token-cleanup.js';
import { resetTokenCounts } from './token-count-reset.js';

const MINUTE = 60_000;

/** Everything about one job, in one place: config, metrics, /tasks and the tests read it from here. */
export interface CatalogEntry {
  name: string;
  /** The environment variable that overrides its schedule (documented in .env.example). */
  envVar: string;
  /** node-cron expression, 5 fields or 6 with seconds. */
  defaultSchedule: string;
  /** One sentence for operators: what the job does. */
  description: string;
  /** Each attempt is aborted after this long. */
  timeoutMs: number;
  /** The field of its result that counts the items it processed (tgbot_job_items_processed_total). */
  processedField: string;
  /**
   * What this job deletes inside Telegram's 48 hours, if anything: its schedule then bounds how
   * long that may live (see bot/deletion/deletion-window.ts and the config).
   */
  deletes?: 'content' | 'broadcasts';
  run(deps: JobDeps, input: RunInput): Promise<JobResult>;
}

/**
 * The maintenance jobs. Adding one: its module next to this file, an entry here, its variable in
 * .env.example, its test (see the README's "Adding a job").
 */
export const JOB_CATALOG = [
  {
    name: 'token-cleanup',
    envVar: 'TOKEN_CLEANUP_CRON',
    defaultSchedule: '0 0,12 * * *',
    description: 'Deletes expired verified and bypassed tokens; unused ones are kept.',
    timeoutMs: 10 * MINUTE,
    processedField: 'deleted',
    run: cleanupExpiredTokens,
  },
  {
    name: 'message-deleter',
    envVar: 'MESSAGE_DELETER_CRON',
    defaultSchedule: '* * * * *',
    description: 'Deletes content whose time is up and leaves a "Click Here" notice to get it again.',
    timeoutMs: 30 * MINUTE,
    processedField: 'messagesDeleted',
    deletes: 'content',
    run: deleteDueMessages,
  },
  {
    name: 'broadcast-deleter',
    envVar: 'BROADCAST_DELETER_CRON',
    defaultSchedule: '0 * * * *',
    description: "Deletes expired broadcasts from every recipient's chat.",
    // 100,000 recipients at 25 calls per second take a little over an hour; later hourly
    // ticks are skipped while it runs, and an interrupted run resumes where it stopped.
    timeoutMs: 6 * 60 * MINUTE,
    processedField: 'messagesDeleted',
    deletes: 'broadcasts',
    run: deleteExpiredBroadcasts,
  },
  {
    name: 'token-count-reset',
    envVar: 'TOKEN_COUNT_RESET_CRON',
    defaultSchedule: '0 0 * * *',
    description: 'Drops daily token-generation counters of days before today.',
    timeoutMs: 10 * MINUTE,
    processedField: 'deleted',
    run: resetTokenCounts,
  },
  {
    name: 'digest',
    envVar: 'DIGEST_CRON',
    defaultSchedule: '0 9 * * *',
    description: "Sends every admin a chart of the last 30 days with yesterday's figures.",
    timeoutMs: 10 * MINUTE,
    processedField: 'sent',
    run: sendDigest,
  },
  {
    name: 'backup',
    envVar: 'BACKUP_CRON',
    defaultSchedule: '30 3 * * *',
    description:
      'Writes every collection to BACKUP_DIR in mongodump --gzip layout and keeps the newest BACKUP_KEEP.',
    timeoutMs: 2 * 60 * MINUTE,
    processedField: 'documents',
    run: backupDatabase,
  },
] as const satisfies readonly CatalogEntry[];

export type JobName = (typeof JOB_CATALOG)[number]['name'];
export const JOB_NAMES: readonly JobName[] = JOB_CATALOG.map((entry) => entry.name);

export function isJobName(name: string): name is JobName {
  return (JOB_NAMES as readonly string[]).includes(name);
}

export function catalogEntry(name: string): CatalogEntry | undefined {
  return JOB_CATALOG.find((entry) => entry.name === name);
}

/** The job that deletes `what` (exactly one does). */
export function deleterOf(what: 'content' | 'broadcasts'): CatalogEntry {
  const entry = (JOB_CATALOG as readonly CatalogEntry[]).find((job) => job.deletes === what);
  if (!entry) throw new Error(`no job of the catalog deletes ${what}`);
  return entry;
}

const input = (ctx: JobContext): RunInput => ({
  now: ctx.now,
  clock: ctx.clock,
  signal: ctx.signal,
  logger: ctx.logger,
  dryRun: ctx.dryRun,
  confirmClaim: ctx.confirmClaim,
});

/** The catalog's jobs for the runtime, on the given schedules. */
export function createJobs(deps: JobDeps, schedules: Readonly<Record<JobName, string>>): JobDefinition[] {
  return JOB_CATALOG.map((entry) => ({
    name: entry.name,
    schedule: schedules[entry.name],
    description: entry.description,
    timeoutMs: entry.timeoutMs,
    run: (ctx: JobContext) => entry.run(deps, input(ctx)),
  }));
}
