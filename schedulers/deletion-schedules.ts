import type { DeletionLimits, DeletionTarget } from '../bot/deletion/deletion-limits.js';
import { safeLifetimeMs } from '../bot/deletion/deletion-window.js';
import { formatTime } from '../bot/services/content.js';
import { formatMinutes } from '../bot/validation.js';
import { longestGapMs } from './cron-schedule.js';
import { catalogEntry } from './jobs/catalog.js';

/**
 * A deleter's schedule bounds how long what it deletes may live: whatever it deletes must be gone
 * within Telegram's 48 hours, so the longest gap between its runs comes off them. These are the
 * numbers the config checks at start-up, the refusal of a schedule changed at run time that would
 * break a promise already made, and the limits that follow the schedule in effect.
 */

export interface DeletionCap {
  /** The longest time between two runs of the schedule (daylight saving included). */
  gapMs: number;
  /** The longest lifetime the schedule can honour, in whole minutes; under 1 when none. */
  maxMinutes: number;
}

export function deletionCap(expression: string, timezone: string, now: Date): DeletionCap {
  const gapMs = longestGapMs(expression, timezone, now);
  return { gapMs, maxMinutes: Math.floor(safeLifetimeMs(gapMs) / 60_000) };
}

export interface DeletionScheduleRuleDeps {
  timezone: string;
  clock: () => Date;
  /** The delete time in force: the /setdeletetime setting, or DELETE_AFTER_MINUTES. */
  deleteTimeMinutes(): Promise<number>;
  /** The longest lifetime among the broadcasts still stored, or null when there is none. */
  longestBroadcast(): Promise<{ lifetimeMs: number; deleteAt: Date } | null>;
}

/**
 * The scheduler's `scheduleRule`: a deleter's new schedule must leave room, within Telegram's 48
 * hours, for anything it may have to delete. The content deleter's for the delete time in force;
 * the broadcast deleter's for every broadcast still stored. Other jobs may run on any valid cron
 * expression. Returns the problem, in words for the admin who asked, or undefined.
 */
export function deletionScheduleRule(
  deps: DeletionScheduleRuleDeps,
): (job: string, expression: string) => Promise<string | undefined> {
  return async (job, expression) => {
    const target = catalogEntry(job)?.deletes;
    if (target === undefined) return undefined;
    const cap = deletionCap(expression, deps.timezone, deps.clock());
    const gap = `"${expression}" leaves up to ${formatMinutes(Math.max(1, Math.round(cap.gapMs / 60_000)))} between runs of ${job}`;
    if (cap.maxMinutes < 1) {
      return `${gap}, too long to delete anything within Telegram's 48 hours; run it at least every few hours.`;
    }
    const longest = formatMinutes(cap.maxMinutes);
    if (target === 'content') {
      const deleteTime = await deps.deleteTimeMinutes();
      if (deleteTime <= cap.maxMinutes) return undefined;
      return `${gap}, so content could stay at most ${longest}, less than the delete time in force (${formatMinutes(deleteTime)}). Lower the delete time to ${longest} or less with /setdeletetime first, or run ${job} more often.`;
    }
    const broadcast = await deps.longestBroadcast();
    if (broadcast === null || broadcast.lifetimeMs <= cap.maxMinutes * 60_000) return undefined;
    return `${gap}, so a broadcast could stay at most ${longest}, but a broadcast in the database stays ${formatMinutes(Math.ceil(broadcast.lifetimeMs / 60_000))} (until ${formatTime(broadcast.deleteAt, deps.timezone)}). Wait until it is deleted, or run ${job} more often.`;
  };
}

/**
 * The scheduler's `onScheduleApplied`: when a deleter's schedule takes effect (at start-up, or
 * changed here or on another instance), the limit of what it deletes follows it.
 */
export function followDeleterSchedules(
  limits: DeletionLimits,
  timezone: string,
  clock: () => Date,
): (job: string, expression: string) => void {
  return (job, expression) => {
    const target: DeletionTarget | undefined = catalogEntry(job)?.deletes;
    if (target === undefined) return;
    limits.update(target, deletionCap(expression, timezone, clock()).maxMinutes);
  };
}
