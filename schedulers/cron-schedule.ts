import { CronExpressionParser } from 'cron-parser';
import cronstrue from 'cronstrue';
import cron from 'node-cron';

/**
 * node-cron decides *when* a job fires; cron-parser answers the questions node-cron has no API
 * for (which slot came last, how many were missed). Expressions must satisfy both, so the two
 * can never disagree about what a schedule means.
 */

/** Why an expression is unusable, or undefined when it is fine. */
export function checkCronExpression(expression: string): string | undefined {
  const detailed = cron.validateDetailed(expression);
  if (!detailed.valid) {
    return detailed.errors.map((error) => error.message).join('; ') || 'not a cron expression';
  }
  if (restrictsBothDayFields(expression)) {
    return 'restricts both the day of the month and the day of the week, which node-cron and cron-parser read differently (one of the two must be *)';
  }
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}

/** "At 00:00 and 12:00 (UTC)", for logs and the /tasks command. */
export function describeSchedule(expression: string, timezone: string): string {
  let words: string;
  try {
    words = cronstrue.toString(expression, { use24HourTimeFormat: true, verbose: false });
  } catch {
    words = expression;
  }
  return `${words.charAt(0).toLowerCase()}${words.slice(1)} (${timezone})`;
}

/** The latest scheduled time at or before `at`. */
export function latestSlot(expression: string, timezone: string, at: Date): Date {
  const iterator = CronExpressionParser.parse(expression, {
    tz: timezone,
    currentDate: new Date(at.getTime() + 1),
  });
  return iterator.prev().toDate();
}

/** The first scheduled time strictly after `at`. */
export function nextSlot(expression: string, timezone: string, at: Date): Date {
  const iterator = CronExpressionParser.parse(expression, { tz: timezone, currentDate: at });
  return iterator.next().toDate();
}

/** Scheduled times in (after, until], newest first, at most `limit` of them. */
export function slotsBetween(
  expression: string,
  timezone: string,
  after: Date,
  until: Date,
  limit: number,
): Date[] {
  const iterator = CronExpressionParser.parse(expression, {
    tz: timezone,
    currentDate: new Date(until.getTime() + 1),
    startDate: after,
  });
  const slots: Date[] = [];
  while (slots.length < limit && iterator.hasPrev()) {
    const slot = iterator.prev().toDate();
    if (slot.getTime() <= after.getTime()) break;
    slots.push(slot);
  }
  return slots;
}

const GAP_HORIZON_MS = 8 * 86_400_000;
const GAP_MAX_SLOTS = 20_000;
const HOUR_MS = 3_600_000;

/**
 * The longest time between two consecutive runs of a schedule, looked at over the next eight
 * days (a weekly schedule shows its longest gap in that span; a monthly one at least its first).
 * Daylight saving can stretch a gap of an hour or more by one hour, so zones other than UTC get
 * that hour added.
 */
export function longestGapMs(expression: string, timezone: string, from: Date): number {
  // Walking every slot of eight days of a per-minute schedule takes a few hundred milliseconds;
  // the answer changes at most from one day to the next.
  const key = `${expression}|${timezone}|${from.toISOString().slice(0, 10)}`;
  let gap = gapCache.get(key);
  if (gap === undefined) {
    gap = walkLongestGap(expression, timezone, from);
    gapCache.set(key, gap);
  }
  return gap;
}

const gapCache = new Map<string, number>();

function walkLongestGap(expression: string, timezone: string, from: Date): number {
  const iterator = CronExpressionParser.parse(expression, { tz: timezone, currentDate: from });
  let previous = iterator.prev().toDate().getTime();
  const start = previous;
  let longest = 0;
  for (let slots = 0; slots < GAP_MAX_SLOTS; slots++) {
    const next = iterator.next().toDate().getTime();
    longest = Math.max(longest, next - previous);
    previous = next;
    if (slots > 0 && next - start > GAP_HORIZON_MS) break;
  }
  return longest >= HOUR_MS && timezone !== 'UTC' ? longest + HOUR_MS : longest;
}

/**
 * node-cron runs a schedule that restricts both the day of the month and the day of the week only
 * on days matching both; cron-parser (and classic cron) on days matching either. Such schedules
 * would mean one thing to the timer and another to the catch-up planner, so they are refused.
 */
export function restrictsBothDayFields(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  const [dayOfMonth, , dayOfWeek] = fields.slice(fields.length === 6 ? 3 : 2);
  // cron-parser's own strict mode draws the line at exactly this: neither field is `*`.
  return dayOfMonth !== undefined && dayOfWeek !== undefined && dayOfMonth !== '*' && dayOfWeek !== '*';
}
