import type { SettingsRepository } from '../../db/repositories/settings.js';

const KEY = 'delete_after_minutes';
export const MIN_DELETE_MINUTES = 1;
/** Telegram lets bots delete their messages for 48 hours only. */
export const MAX_DELETE_MINUTES = 48 * 60;

const isMinutes = (value: unknown): value is number =>
  typeof value === 'number' &&
  Number.isInteger(value) &&
  value >= MIN_DELETE_MINUTES &&
  value <= MAX_DELETE_MINUTES;

/** How long delivered content stays before the message deleter removes it; set by admins. */
export class DeleteTimeSetting {
  constructor(
    private readonly settings: SettingsRepository,
    private readonly defaultMinutes: number,
  ) {}

  async minutes(): Promise<number> {
    return (await this.settings.get(KEY, isMinutes)) ?? this.defaultMinutes;
  }

  async set(minutes: number, now: Date, adminId: number): Promise<void> {
    if (!isMinutes(minutes)) throw new RangeError(`delete time out of range: ${minutes}`);
    await this.settings.set(KEY, minutes, now, adminId);
  }
}
