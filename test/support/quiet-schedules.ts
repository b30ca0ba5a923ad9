import { type CatalogEntry, JOB_CATALOG } from '../../schedulers/jobs/catalog.js';

/** Fires only on 29 February. */
const LEAP_DAY = '0 0 29 2 *';

/**
 * Schedules for whole-bot tests that must not fire on their own while a test runs: the jobs are
 * run by hand (runNow, /run). Every job of the catalog fires only on 29 February, except the
 * deleters: a deleter whose runs are further apart than Telegram's 48 hours is refused at start,
 * so they get a daily time twelve hours away, and with CATCH_UP_GRACE_HOURS=1 a restart never
 * catches up the slot of twelve hours ago.
 */
export function quietSchedules(timezone = 'UTC', now = new Date()): Record<string, string> {
  const hour = Number(
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', hourCycle: 'h23' }).format(now),
  );
  const faraway = `0 ${(hour + 12) % 24} * * *`;
  return {
    ...Object.fromEntries(
      (JOB_CATALOG as readonly CatalogEntry[]).map((job) => [job.envVar, job.deletes ? faraway : LEAP_DAY]),
    ),
    CATCH_UP_GRACE_HOURS: '1',
  };
}
