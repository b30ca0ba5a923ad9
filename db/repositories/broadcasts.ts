import type { Collection, FindCursor, ObjectId } from 'mongodb';
import type { BroadcastCounts, BroadcastDoc, BroadcastMessageDoc, BroadcastStatus } from '../collections.js';

export type StoredBroadcast = BroadcastDoc & { _id: ObjectId };
export type StoredBroadcastMessage = BroadcastMessageDoc & { _id: ObjectId };

export class BroadcastsRepository {
  constructor(
    private readonly broadcasts: Collection<BroadcastDoc>,
    private readonly recipients: Collection<BroadcastMessageDoc>,
  ) {}

  async create(doc: Omit<BroadcastDoc, '_id'>): Promise<ObjectId> {
    const result = await this.broadcasts.insertOne({ ...doc });
    return result.insertedId;
  }

  findById(id: ObjectId): Promise<StoredBroadcast | null> {
    return this.broadcasts.findOne({ _id: id }) as Promise<StoredBroadcast | null>;
  }

  async recordDeliveries(
    broadcastId: ObjectId,
    copies: ReadonlyArray<{ chat_id: number; message_id: number }>,
  ) {
    if (copies.length === 0) return;
    await this.recipients.insertMany(
      copies.map((copy) => ({
        broadcast_id: broadcastId,
        chat_id: copy.chat_id,
        message_id: copy.message_id,
      })),
      { ordered: false },
    );
  }

  async addCounts(id: ObjectId, delta: Partial<BroadcastCounts>): Promise<void> {
    const inc = Object.fromEntries(Object.entries(delta).map(([key, value]) => [`counts.${key}`, value]));
    if (Object.keys(inc).length > 0) await this.broadcasts.updateOne({ _id: id }, { $inc: inc });
  }

  async heartbeat(id: ObjectId, at: Date): Promise<void> {
    await this.broadcasts.updateOne({ _id: id, status: 'sending' }, { $set: { heartbeat_at: at } });
  }

  /**
   * Takes over one broadcast whose sender stopped beating (its process died mid-send) and marks
   * it interrupted; the conditional update lets exactly one instance report it.
   */
  takeOverStale(staleBefore: Date, now: Date): Promise<StoredBroadcast | null> {
    return this.broadcasts.findOneAndUpdate(
      { status: 'sending', heartbeat_at: { $lt: staleBefore } },
      { $set: { status: 'interrupted', finished_at: now } },
      { returnDocument: 'after' },
    ) as Promise<StoredBroadcast | null>;
  }

  async setStatus(id: ObjectId, status: BroadcastStatus, at: Date): Promise<void> {
    await this.broadcasts.updateOne(
      { _id: id },
      { $set: status === 'sending' ? { status } : { status, finished_at: at } },
    );
  }

  /** Broadcasts whose lifetime is over, oldest first. */
  expired(now: Date): FindCursor<StoredBroadcast> {
    return this.broadcasts
      .find({ delete_at: { $lte: now } })
      .sort({ delete_at: 1 }) as FindCursor<StoredBroadcast>;
  }

  /** One broadcast's delivered copies, streamed in batches; never the whole recipient list at once. */
  copies(broadcastId: ObjectId, batchSize: number): FindCursor<StoredBroadcastMessage> {
    return this.recipients
      .find({ broadcast_id: broadcastId })
      .sort({ _id: 1 })
      .batchSize(batchSize) as FindCursor<StoredBroadcastMessage>;
  }

  countCopies(broadcastId: ObjectId): Promise<number> {
    return this.recipients.countDocuments({ broadcast_id: broadcastId });
  }

  async removeCopies(ids: readonly ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.recipients.deleteMany({ _id: { $in: [...ids] } });
    return result.deletedCount;
  }

  async recordCopyAttempt(ids: readonly ObjectId[]): Promise<void> {
    if (ids.length === 0) return;
    await this.recipients.updateMany({ _id: { $in: [...ids] } }, { $inc: { attempts: 1 } });
  }

  /** Removes the broadcast only once no copy is left, so an interrupted run never orphans copies. */
  async removeIfNoCopiesLeft(id: ObjectId): Promise<boolean> {
    const left = await this.recipients.countDocuments({ broadcast_id: id }, { limit: 1 });
    if (left > 0) return false;
    const result = await this.broadcasts.deleteOne({ _id: id });
    return result.deletedCount === 1;
  }

  countActive(now: Date): Promise<number> {
    return this.broadcasts.countDocuments({ delete_at: { $gt: now } });
  }
}
