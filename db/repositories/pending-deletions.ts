import type { Collection, FindCursor, ObjectId } from 'mongodb';
import type { PendingDeletionDoc } from '../collections.js';

export type DuePendingDeletion = PendingDeletionDoc & { _id: ObjectId };

export class PendingDeletionsRepository {
  constructor(private readonly deletions: Collection<PendingDeletionDoc>) {}

  async schedule(doc: Omit<PendingDeletionDoc, '_id'>): Promise<ObjectId> {
    const result = await this.deletions.insertOne({ ...doc });
    return result.insertedId;
  }

  /** Due records, oldest first, streamed in batches of `batchSize`. */
  due(now: Date, batchSize: number): FindCursor<DuePendingDeletion> {
    return this.deletions
      .find({ delete_at: { $lte: now } })
      .sort({ delete_at: 1 })
      .batchSize(batchSize) as FindCursor<DuePendingDeletion>;
  }

  async removeByIds(ids: readonly ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.deletions.deleteMany({ _id: { $in: [...ids] } });
    return result.deletedCount;
  }

  /** Remembers a transient failure; the record stays for the next run. */
  async recordAttempt(ids: readonly ObjectId[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.deletions.updateMany(
      { _id: { $in: [...ids] } },
      { $inc: { attempts: 1 }, $set: { last_error: error.slice(0, 500) } },
    );
  }

  countAll(): Promise<number> {
    return this.deletions.countDocuments();
  }

  countDue(now: Date): Promise<number> {
    return this.deletions.countDocuments({ delete_at: { $lte: now } });
  }

  async oldestDue(now: Date): Promise<PendingDeletionDoc | null> {
    return this.deletions.findOne({ delete_at: { $lte: now } }, { sort: { delete_at: 1 } });
  }
}
