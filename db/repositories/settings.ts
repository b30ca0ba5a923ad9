import type { Collection } from 'mongodb';
import type { SettingDoc } from '../collections.js';

export class SettingsRepository {
  constructor(private readonly settings: Collection<SettingDoc>) {}

  async get<T>(key: string, guard: (value: unknown) => value is T): Promise<T | undefined> {
    const doc = await this.settings.findOne({ _id: key });
    return doc && guard(doc.value) ? doc.value : undefined;
  }

  async set(key: string, value: unknown, now: Date, updatedBy?: number): Promise<void> {
    await this.settings.updateOne(
      { _id: key },
      { $set: { value, updated_at: now, ...(updatedBy === undefined ? {} : { updated_by: updatedBy }) } },
      { upsert: true },
    );
  }
}
