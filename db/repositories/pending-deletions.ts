import type { Collection, Filter, ObjectId } from 'mongodb';
import type { PendingDeletionDoc } from '../collections.js';

export type DuePendingDeletion = PendingDeletionDoc & { _id: ObjectId };

/** Where a page of a sorted scan ended; the next page starts strictly after it. */
export interface Bookmark {
  at: Date;
  id: ObjectId;
}

/**
 * Every scan reads one page, closes its cursor and asks for the next page from a bookmark: a
 * cursor held open while a batch waits out a long flood wait would be closed by the server after
 * ten idle minutes (CursorNotFound).
 */
export class PendingDeletionsRepository {
  constructor(private readonly deletions: Collection<PendingDeletionDoc>) {}

  async schedule(doc: Omit<PendingDeletionDoc, '_id'>): Promise<ObjectId> {
    const result = await this.deletions.insertOne({ ...doc });
    return result.insertedId;
  }

  /** Adds the ids of messages sent after the record was written. */
  async addMessages(id: ObjectId, messageIds: readonly number[]): Promise<void> {
    if (messageIds.length === 0) return;
    await this.deletions.updateOne({ _id: id }, { $addToSet: { message_ids: { $each: [...messageIds] } } });
  }

  /** Due records (`delete_at <= now`), in `delete_at` order, one page after `after`. */
  duePage(now: Date, after: Bookmark | undefined, limit: number): Promise<DuePendingDeletion[]> {
    return this.page('delete_at', { delete_at: { $lte: now } }, after, limit);
  }

  /**
   * Records created at or before `createdBefore`, oldest first: the ones whose messages are
   * closest to Telegram's 48-hour limit, whatever their `delete_at` says.
   */
  urgentPage(createdBefore: Date, after: Bookmark | undefined, limit: number): Promise<DuePendingDeletion[]> {
    return this.page('created_at', { created_at: { $lte: createdBefore } }, after, limit);
  }

  private page(
    field: 'delete_at' | 'created_at',
    range: Filter<PendingDeletionDoc>,
    after: Bookmark | undefined,
    limit: number,
  ): Promise<DuePendingDeletion[]> {
    const filter: Filter<PendingDeletionDoc> = after
      ? {
          $and: [
            range,
            { $or: [{ [field]: { $gt: after.at } }, { [field]: after.at, _id: { $gt: after.id } }] },
          ],
        }
      : range;
    return this.deletions
      .find(filter)
      .sort({ [field]: 1, _id: 1 })
      .limit(limit)
      .toArray() as Promise<DuePendingDeletion[]>;
  }

  async removeByIds(ids: readonly ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.deletions.deleteMany({ _id: { $in: [...ids] } });
    return result.deletedCount;
  }

  /** Remembers a transient failure for operators; the record stays for the next run. */
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
