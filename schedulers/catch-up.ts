import type { RunsRepository } from '../db/repositories/runs.js';
import { latestSlot, slotsBetween } from './cron-schedule.js';

export type CatchUpPlan =
  | { action: 'none'; reason: string; log: boolean }
  | { action: 'run'; slot: Date; missedSlots: number };

/** Counting missed slots is for the log line only; a bound keeps it cheap for dense schedules. */
const MAX_COUNTED_SLOTS = 10_000;

/**
 * Decides whether a job missed its latest scheduled time while no instance was up. Only the
 * latest slot is ever run: several missed slots collapse into one catch-up run, claimed under
 * that slot's key so that no other instance (and no late scheduled tick) runs it again.
 */
export async function planCatchUp(input: {
  job: string;
  schedule: string;
  timezone: string;
  now: Date;
  graceMs: number;
  /** When the schedule last changed while the bot ran: earlier slots of it were never due. */
  scheduledSince?: Date | null;
  store: Pick<RunsRepository, 'hasHistory' | 'hasClaim' | 'latestSlotClaim'>;
}): Promise<CatchUpPlan> {
  const { job, schedule, timezone, now, store } = input;
  if (!(await store.hasHistory(job))) {
    // A brand-new deployment has not missed anything; it starts with the next scheduled time.
    return { action: 'none', reason: 'no run history yet', log: false };
  }
  const slot = latestSlot(schedule, timezone, now);
  if (input.scheduledSince && slot.getTime() < input.scheduledSince.getTime()) {
    // Moving a daily job from 03:00 to 05:00 at noon must not run it at the next start-up.
    return { action: 'none', reason: 'the schedule changed after its latest scheduled time', log: false };
  }
  if (await store.hasClaim(`${job}:${slot.toISOString()}`)) {
    return { action: 'none', reason: 'the latest scheduled time was handled', log: false };
  }
  const age = now.getTime() - slot.getTime();
  if (age > input.graceMs) {
    return {
      action: 'none',
      reason: `the missed run at ${slot.toISOString()} is older than the catch-up window (${Math.round(input.graceMs / 60_000)} min)`,
      log: true,
    };
  }
  const last = await store.latestSlotClaim(job);
  const missedSlots = last?.slot
    ? Math.max(1, slotsBetween(schedule, timezone, last.slot, slot, MAX_COUNTED_SLOTS).length)
    : 1;
  return { action: 'run', slot, missedSlots };
}
