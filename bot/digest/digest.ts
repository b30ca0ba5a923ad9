import { localDate } from '../../db/calendar.js';
import type { PendingDeletionsRepository } from '../../db/repositories/pending-deletions.js';
import { addDays, type DailyStats, type StatsRepository } from '../../db/repositories/stats.js';
import { renderDigestChart } from './chart.js';

/** Telegram's limit for a photo caption, in characters. */
export const CAPTION_LIMIT = 1024;
export const DIGEST_DAYS = { min: 7, max: 90, default: 30 } as const;
/** The average the caption compares yesterday with: the 7 days before it. */
const AVERAGE_DAYS = 7;

export interface DigestSources {
  stats: StatsRepository;
  pendingDeletions: Pick<PendingDeletionsRepository, 'oldestDue'>;
}

export interface Digest {
  png: Buffer;
  caption: string;
  /** The chart's first and last day (the last is yesterday: today is not over). */
  from: string;
  to: string;
}

/**
 * The digest of the `days` complete days before `now` in `timezone`: a chart of the period and a
 * caption with yesterday's figures, their change from the day before and from the 7-day average,
 * the link conversion and the scheduler's health.
 */
export async function buildDigest(
  sources: DigestSources,
  options: { timezone: string; now: Date; days: number },
): Promise<Digest> {
  const yesterday = addDays(localDate(options.now, options.timezone), -1);
  const span = Math.max(options.days, AVERAGE_DAYS + 2);
  const [history, oldestDue] = await Promise.all([
    sources.stats.range(addDays(yesterday, -(span - 1)), yesterday),
    sources.pendingDeletions.oldestDue(options.now),
  ]);
  const period = history.slice(-options.days);
  const from = period[0]?.day ?? yesterday;
  const lagMs = oldestDue ? Math.max(0, options.now.getTime() - oldestDue.delete_at.getTime()) : 0;
  const caption = digestCaption(history, { timezone: options.timezone, lagMs, days: options.days });
  const title = `Daily digest: ${formatDay(from)} – ${formatDay(yesterday)} (${options.timezone})`;
  return { png: renderDigestChart(period, title), caption, from, to: yesterday };
}

interface Row {
  label: string;
  value: (day: DailyStats) => number;
}

const ROWS: readonly Row[] = [
  { label: 'New users', value: (day) => day.counts.users_new },
  { label: 'Blocked the bot', value: (day) => day.counts.users_blocked },
  { label: 'Links issued', value: (day) => day.counts.links_issued },
  { label: 'Links verified', value: (day) => day.counts.links_verified },
  { label: 'Bypasses', value: (day) => day.counts.bypasses },
  { label: 'Deliveries', value: (day) => day.counts.deliveries },
  { label: 'Messages deleted', value: (day) => day.counts.messages_deleted },
  { label: 'Deletions failed', value: (day) => day.counts.deletions_failed },
  { label: 'Notices sent', value: (day) => day.counts.notices },
  { label: 'Broadcast copies', value: (day) => day.counts.broadcast_delivered },
];

/**
 * The caption: `history` ends with yesterday and holds at least the 8 days before it. Each row is
 * `label: yesterday (±change vs the day before; ±change vs the 7-day average)`.
 */
export function digestCaption(
  history: readonly DailyStats[],
  options: { timezone: string; lagMs: number; days: number },
): string {
  const yesterday = history.at(-1);
  const before = history.at(-2);
  const week = history.slice(-1 - AVERAGE_DAYS, -1);
  if (!yesterday || !before || week.length < AVERAGE_DAYS)
    throw new Error('the digest needs 8 days of history');
  const average = (value: (day: DailyStats) => number) =>
    week.reduce((sum, day) => sum + value(day), 0) / week.length;

  const lines = [
    `📊 ${formatDay(yesterday.day)} (${options.timezone})`,
    'yesterday (vs day before; vs 7-day avg)',
  ];
  for (const row of ROWS) {
    const value = row.value(yesterday);
    const avg = average(row.value);
    lines.push(
      `${row.label}: ${value} (${signed(value - row.value(before))}; ${signed(round1(value - avg))} vs ${round1(avg)})`,
    );
  }
  const issued = (day: DailyStats) => day.counts.links_issued;
  const verified = (day: DailyStats) => day.counts.links_verified;
  lines.push(
    `Conversion issued→verified: ${percent(verified(yesterday), issued(yesterday))} (7-day ${percent(
      week.reduce((sum, day) => sum + verified(day), 0),
      week.reduce((sum, day) => sum + issued(day), 0),
    )})`,
  );
  const runs = yesterday.runs;
  lines.push(
    `Scheduler: ${runs.failed} failed run${runs.failed === 1 ? '' : 's'} yesterday (${runs.succeeded} ok, ${runs.abandoned} abandoned); deletion lag ${formatLag(options.lagMs)}`,
  );
  lines.push(`Chart: the last ${options.days} days.`);
  return withinCaptionLimit(lines);
}

/** Keeps the caption within Telegram's limit: the rows are short, this only guards the bound. */
function withinCaptionLimit(lines: string[]): string {
  const text = lines.join('\n');
  if (text.length <= CAPTION_LIMIT) return text;
  return `${text.slice(0, CAPTION_LIMIT - 1)}…`;
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : value < 0 ? `−${-value}` : '±0';
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${(Math.round((part / whole) * 1000) / 10).toFixed(1)}%`;
}

function formatLag(ms: number): string {
  if (ms <= 0) return 'none';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.round(ms / 1000)} s`;
  if (minutes < 120) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** `2026-03-09` → `Mon 9 Mar 2026`. */
export function formatDay(day: string): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return new Intl.DateTimeFormat('en-GB', {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  }).format(new Date(Date.UTC(year, month - 1, date)));
}
