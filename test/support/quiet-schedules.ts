/**
 * Schedules for whole-bot tests that must not fire on their own while a test runs: the jobs are
 * run by hand (runNow, /run). The deleters get a daily time twelve hours away, because a deleter
 * whose runs are further apart than Telegram's 48 hours is refused at start; the others fire only
 * on 29 February. With CATCH_UP_GRACE_HOURS=1 a restart never catches up the slot of twelve hours ago.
 */
const LEAP_DAY = '0 0 29 2 *';

export function quietSchedules(timezone = 'UTC', now = new Date()): Record<string, string> {
  const hour = Number(
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', hourCycle: 'h23' }).format(now),
  );
  const faraway = `0 ${(hour + 12) % 24} * * *`;
  return {
    TOKEN_CLEANUP_CRON: LEAP_DAY,
    MESSAGE_DELETER_CRON: faraway,
    BROADCAST_DELETER_CRON: faraway,
    TOKEN_COUNT_RESET_CRON: LEAP_DAY,
    CATCH_UP_GRACE_HOURS: '1',
  };
}
