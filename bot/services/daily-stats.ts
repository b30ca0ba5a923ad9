import type { Logger } from 'pino';
import { localDate } from '../../db/calendar.js';
import type { DailyStatsIncrement, StatsRepository } from '../../db/repositories/stats.js';

/** Where an event site counts: the repository, the time zone that decides the day, a logger. */
export interface StatsTarget {
  stats: StatsRepository;
  /** SCHEDULER_TIMEZONE: the calendar day an event belongs to. */
  timezone: string;
  logger?: Pick<Logger, 'warn'> | undefined;
}

/**
 * Counts an event on the calendar day of `at` in the target's time zone. Never throws: a failed
 * statistics write is logged and the action it counts goes on (the figures are for the digest,
 * not for anything the bot decides).
 */
export async function countDaily(
  target: StatsTarget,
  at: Date,
  increment: DailyStatsIncrement,
): Promise<void> {
  try {
    await target.stats.increment(localDate(at, target.timezone), increment);
  } catch (error) {
    target.logger?.warn({ err: error, increment }, 'could not count daily statistics; going on');
  }
}
