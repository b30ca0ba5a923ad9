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
