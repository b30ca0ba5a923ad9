/** What a deleter job deletes: delivered content, or broadcast copies. */
export type DeletionTarget = 'content' | 'broadcasts';

/**
 * The longest lifetime content and broadcasts may be given, in whole minutes: Telegram's 48 hours
 * less the gaps of the schedule in effect of the job that deletes them (see deletion-window.ts).
 * Those schedules can change while the bot runs, on any instance, so every reader asks here each
 * time instead of keeping a number from the start.
 */
export class DeletionLimits {
  private readonly minutes: Record<DeletionTarget, number>;

  constructor(initial: Readonly<Record<DeletionTarget, number>>) {
    this.minutes = { ...initial };
  }

  maxMinutes(target: DeletionTarget): number {
    return this.minutes[target];
  }

  /** Content older than this is nearest to Telegram's limit (the message deleter takes it first). */
  contentSafeLifetimeMs(): number {
    return this.minutes.content * 60_000;
  }

  /** The deleter of `target` is on a new schedule; `minutes` is what that schedule allows. */
  update(target: DeletionTarget, minutes: number): void {
    this.minutes[target] = minutes;
  }
}
