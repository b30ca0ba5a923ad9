/**
 * Telegram lets a bot delete its messages for 48 hours after sending them; after that the
 * content stays for good. Every deletion the bot plans has to land inside that window, so the
 * longest lifetime it accepts leaves room for the deleter's schedule and for a run to get there.
 */

const MINUTE = 60_000;

export const TELEGRAM_DELETE_WINDOW_MS = 48 * 60 * MINUTE;
/** Kept free at the end of the window: clocks, a slow answer, TDLib's second-level rounding. */
export const DELETION_MARGIN_MS = 10 * MINUTE;
/** How long a deleter run may take to reach a record once it starts. */
export const RUN_ALLOWANCE_MS = 10 * MINUTE;

/**
 * The longest lifetime content can be given when its deleter runs at least every `periodMs`:
 * scheduled time + period + a run's allowance + the margin stays inside the 48 hours.
 */
export function safeLifetimeMs(periodMs: number): number {
  return TELEGRAM_DELETE_WINDOW_MS - DELETION_MARGIN_MS - RUN_ALLOWANCE_MS - periodMs;
}

/** Whether Telegram may still delete a message sent at `sentAt` (with the margin kept free). */
export function stillDeletable(sentAt: Date, now: Date): boolean {
  return now.getTime() < sentAt.getTime() + TELEGRAM_DELETE_WINDOW_MS;
}
