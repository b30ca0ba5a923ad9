import type { Collection } from 'mongodb';
import {
  DAILY_STAT_FIELDS,
  type DailyStatField,
  type DailyStatsDoc,
  RUN_STAT_STATUSES,
  type RunStatStatus,
} from '../collections.js';

const DAY_MS = 86_400_000;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** What one event site adds to its day: counters, and job runs by status. */
export interface DailyStatsIncrement {
  counts?: Partial<Record<DailyStatField, number>>;
  runs?: Partial<Record<RunStatStatus, number>>;
}

/** A day's figures with every counter present (0 when nothing happened). */
export interface DailyStats {
  day: string;
  counts: Record<DailyStatField, number>;
  runs: Record<RunStatStatus, number>;
}

/**
 * Daily statistics, one document per calendar day in SCHEDULER_TIMEZONE (`_id: 'YYYY-MM-DD'`),
 * written as `$inc` upserts where the events happen. `expire_at` is the day plus the retention, so
 * the TTL index drops old days without a job.
 */
export class StatsRepository {
  constructor(
    private readonly stats: Collection<DailyStatsDoc>,
    private readonly retentionDays = 400,
  ) {}

  /** Adds to the counters of `day`; zero and negative-free no-ops are skipped. */
  async increment(day: string, increment: DailyStatsIncrement): Promise<void> {
    if (!DAY_PATTERN.test(day)) throw new Error(`not a calendar day: ${day}`);
    const inc: Record<string, number> = {};
    for (const [field, value] of Object.entries(increment.counts ?? {})) {
      if (value !== undefined && value !== 0) inc[field] = value;
    }
    for (const [status, value] of Object.entries(increment.runs ?? {})) {
      if (value !== undefined && value !== 0) inc[`runs.${status}`] = value;
    }
    if (Object.keys(inc).length === 0) return;
    await this.stats.updateOne(
      { _id: day },
      {
        $inc: inc,
        $set: { expire_at: new Date(Date.parse(`${day}T00:00:00Z`) + this.retentionDays * DAY_MS) },
      },
      { upsert: true },
    );
  }

  /** Every day from `fromDay` to `toDay` inclusive, in order; days without a document are zeros. */
  async range(fromDay: string, toDay: string): Promise<DailyStats[]> {
    const docs = await this.stats.find({ _id: { $gte: fromDay, $lte: toDay } }).toArray();
    const byDay = new Map(docs.map((doc) => [doc._id, doc]));
    return calendarDays(fromDay, toDay).map((day) => toStats(day, byDay.get(day)));
  }
}

function toStats(day: string, doc: DailyStatsDoc | undefined): DailyStats {
  const counts = Object.fromEntries(DAILY_STAT_FIELDS.map((field) => [field, doc?.[field] ?? 0])) as Record<
    DailyStatField,
    number
  >;
  const runs = Object.fromEntries(
    RUN_STAT_STATUSES.map((status) => [status, doc?.runs?.[status] ?? 0]),
  ) as Record<RunStatStatus, number>;
  return { day, counts, runs };
}

/** The calendar days from `fromDay` to `toDay` inclusive (`YYYY-MM-DD`, no time zone involved). */
export function calendarDays(fromDay: string, toDay: string): string[] {
  const days: string[] = [];
  const end = Date.parse(`${toDay}T00:00:00Z`);
  for (let at = Date.parse(`${fromDay}T00:00:00Z`); at <= end; at += DAY_MS) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}

/** `day` moved by `delta` calendar days. */
export function addDays(day: string, delta: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + delta * DAY_MS).toISOString().slice(0, 10);
}
