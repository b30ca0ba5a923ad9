import type { SettingsRepository } from '../../db/repositories/settings.js';
import type { DeletionLimits } from '../deletion/deletion-limits.js';

const KEY = 'delete_after_minutes';
export const MIN_DELETE_MINUTES = 1;

const isWholeMinutes = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= MIN_DELETE_MINUTES;

/**
 * How long delivered content stays before the message deleter removes it; set by admins, never
 * beyond `maxMinutes` (Telegram's 48 hours less the deleter's schedule in effect, see
 * deletion-window.ts; it changes when that schedule does).
 */
export class DeleteTimeSetting {
  constructor(
    private readonly settings: SettingsRepository,
    private readonly defaultMinutes: number,
    private readonly limits: DeletionLimits,
  ) {}

  get maxMinutes(): number {
    return this.limits.maxMinutes('content');
  }

  /** The delete time in force. A value stored when the limit was higher (another schedule) is capped. */
  async minutes(): Promise<number> {
    const stored = (await this.settings.get(KEY, isWholeMinutes)) ?? this.defaultMinutes;
    return Math.min(stored, this.maxMinutes);
  }

  async set(minutes: number, now: Date, adminId: number): Promise<void> {
    if (!isWholeMinutes(minutes) || minutes > this.maxMinutes) {
      throw new RangeError(`delete time out of range: ${minutes}`);
    }
    await this.settings.set(KEY, minutes, now, adminId);
  }
}
