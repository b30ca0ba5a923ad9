import { type Collection, ObjectId } from 'mongodb';
import type { BroadcastCounts, BroadcastDoc, BroadcastMessageDoc } from '../collections.js';
import { insertWithServerTime, literally, olderThanServerNow, SERVER_NOW } from '../server-time.js';
import type { Bookmark } from './pending-deletions.js';

export type StoredBroadcast = BroadcastDoc & { _id: ObjectId };
export type StoredBroadcastMessage = BroadcastMessageDoc & { _id: ObjectId };

/** What a list of broadcasts shows of each (the dashboard's page). */
export type BroadcastSummary = Pick<
  StoredBroadcast,
  | '_id'
  | 'status'
  | 'counts'
  | 'delete_at'
  | 'created_at'
  | 'created_by'
  | 'finished_at'
  | 'cancel_requested_at'
  | 'cancel_requested_by'
>;

const SUMMARY_FIELDS = {
  status: 1,
  counts: 1,
  delete_at: 1,
  created_at: 1,
  created_by: 1,
  finished_at: 1,
  cancel_requested_at: 1,
  cancel_requested_by: 1,
} as const;

/** Where a page of `recent` ended: the last broadcast's creation time and id. */
export interface RecentBookmark {
  at: Date;
  id: ObjectId;
}

export type CancelRequest = 'requested' | 'not-sending' | 'not-found';

/**
 * What the sender's heartbeat learns: carry on, stop because a cancel was asked for, or stop
 * because the broadcast is no longer this sender's (declared interrupted elsewhere).
 */
export type HeartbeatAnswer = 'ours' | 'cancel-requested' | 'lost';

export interface DeliveredCopy {
  chat_id: number;
  message_id: number;
  sent_at: Date;
}

/**
 * Broadcasts and their delivered copies. A sending broadcast carries its sender's heartbeat in the
 * database server's time, so a sender that died is recognised by every instance alike, whatever
 * their clocks say.
 */
export class BroadcastsRepository {
  constructor(
    private readonly broadcasts: Collection<BroadcastDoc>,
    private readonly recipients: Collection<BroadcastMessageDoc>,
  ) {}

  async create(doc: Omit<BroadcastDoc, '_id' | 'heartbeat_at'>): Promise<ObjectId> {
    const id = new ObjectId();
    await insertWithServerTime(
      this.broadcasts as Collection<StoredBroadcast>,
      { ...doc, _id: id, heartbeat_at: doc.created_at },
      ['heartbeat_at'],
      'status',
    );
    return id;
  }

  findById(id: ObjectId): Promise<StoredBroadcast | null> {
    return this.broadcasts.findOne({ _id: id }) as Promise<StoredBroadcast | null>;
  }

  async recordDeliveries(broadcastId: ObjectId, copies: readonly DeliveredCopy[]): Promise<void> {
    if (copies.length === 0) return;
    await this.recipients.insertMany(
      copies.map((copy) => ({ broadcast_id: broadcastId, ...copy })),
      { ordered: false },
    );
  }

  async addCounts(id: ObjectId, delta: Partial<BroadcastCounts>): Promise<void> {
    const inc = Object.fromEntries(
      Object.entries(delta)
        .filter(([, value]) => value !== 0)
        .map(([key, value]) => [`counts.${key}`, value]),
    );
    if (Object.keys(inc).length > 0) await this.broadcasts.updateOne({ _id: id }, { $inc: inc });
  }

  /**
   * Keeps a sending broadcast alive and answers, in the same round trip, whether a cancel was
   * asked for: the request may come through any instance, and this is how its sender hears of it.
   */
  async heartbeat(id: ObjectId, owner: string): Promise<HeartbeatAnswer> {
    const after = await this.broadcasts.findOneAndUpdate(
      { _id: id, status: 'sending', owner },
      [{ $set: { heartbeat_at: SERVER_NOW } }],
      { returnDocument: 'after', projection: { cancel_requested_at: 1 } },
    );
    if (!after) return 'lost';
    return after.cancel_requested_at ? 'cancel-requested' : 'ours';
  }

  /**
   * Asks the sender of a broadcast to stop; only a `sending` one takes the request, and a second
   * request keeps the first one's time and author (so asking twice is harmless). Whether the
   * sender stops is its own business: it ends the broadcast `cancelled` within a heartbeat, or
   * `sent` if it had just sent the last copy; a dead sender's broadcast is still found by the
   * sweep and ends `interrupted`.
   */
  async requestCancel(id: ObjectId, by: string, now: Date): Promise<CancelRequest> {
    const result = await this.broadcasts.updateOne({ _id: id, status: 'sending' }, [
      {
        $set: {
          cancel_requested_at: { $ifNull: ['$cancel_requested_at', { $literal: now }] },
          cancel_requested_by: { $ifNull: ['$cancel_requested_by', { $literal: by }] },
        },
      },
    ]);
    if (result.matchedCount === 1) return 'requested';
    const exists = await this.broadcasts.countDocuments({ _id: id }, { limit: 1 });
    return exists > 0 ? 'not-sending' : 'not-found';
  }

  /**
   * Broadcasts newest first, `limit` of them after `before` (the last one of the previous page),
   * with what a list shows and never their copies.
   */
  recent(limit: number, before?: RecentBookmark): Promise<BroadcastSummary[]> {
    // limit(0) would mean no limit at all: a list page never asks for the whole collection.
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer: ${limit}`);
    const filter = before
      ? {
          $or: [{ created_at: { $lt: before.at } }, { created_at: before.at, _id: { $lt: before.id } }],
        }
      : {};
    return this.broadcasts
      .find(filter, { projection: SUMMARY_FIELDS })
      .sort({ created_at: -1, _id: -1 })
      .limit(limit)
      .toArray() as Promise<BroadcastSummary[]>;
  }

  /**
   * Takes over one broadcast whose sender stopped beating for longer than `leaseMs` (its process
   * died mid-send) and marks it interrupted; the conditional update lets exactly one instance
   * report it. `alive` are broadcasts the caller is sending itself: its heartbeats may have
   * failed (database down), but it knows they did not die.
   */
  takeOverStale(leaseMs: number, alive: readonly ObjectId[] = []): Promise<StoredBroadcast | null> {
    return this.broadcasts.findOneAndUpdate(
      {
        status: 'sending',
        ...(alive.length > 0 ? { _id: { $nin: [...alive] } } : {}),
        ...olderThanServerNow('heartbeat_at', leaseMs),
      },
      [{ $set: { status: 'interrupted', finished_at: SERVER_NOW } }],
      { returnDocument: 'after' },
    ) as Promise<StoredBroadcast | null>;
  }

  /**
   * Ends a broadcast this owner was sending; false when another instance had already declared it
   * interrupted (and reported it), so the owner does not report it a second time.
   */
  async finish(id: ObjectId, owner: string, status: 'sent' | 'interrupted' | 'cancelled'): Promise<boolean> {
    const result = await this.broadcasts.updateOne({ _id: id, status: 'sending', owner }, [
      { $set: { ...literally({ status }), finished_at: SERVER_NOW } },
    ]);
    return result.matchedCount === 1;
  }

  /** Broadcasts whose lifetime is over, in `delete_at` order, one page after `after`. */
  expiredPage(now: Date, after: Bookmark | undefined, limit: number): Promise<StoredBroadcast[]> {
    const range = { delete_at: { $lte: now } };
    const filter = after
      ? {
          $and: [
            range,
            { $or: [{ delete_at: { $gt: after.at } }, { delete_at: after.at, _id: { $gt: after.id } }] },
          ],
        }
      : range;
    return this.broadcasts.find(filter).sort({ delete_at: 1, _id: 1 }).limit(limit).toArray() as Promise<
      StoredBroadcast[]
    >;
  }

  /** One page of a broadcast's delivered copies in `_id` order; never the whole recipient list. */
  copiesPage(
    broadcastId: ObjectId,
    afterId: ObjectId | undefined,
    limit: number,
  ): Promise<StoredBroadcastMessage[]> {
    return this.recipients
      .find(afterId ? { broadcast_id: broadcastId, _id: { $gt: afterId } } : { broadcast_id: broadcastId })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray() as Promise<StoredBroadcastMessage[]>;
  }

  countCopies(broadcastId: ObjectId): Promise<number> {
    return this.recipients.countDocuments({ broadcast_id: broadcastId });
  }

  async removeCopies(ids: readonly ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.recipients.deleteMany({ _id: { $in: [...ids] } });
    return result.deletedCount;
  }

  /** Remembers a transient failure for operators; the copy stays for the next run. */
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

  /**
   * The longest lifetime (`delete_at` − `created_at`) among the broadcasts still stored, with its
   * `delete_at`; null when there is none. A broadcast deleter schedule must leave room for it.
   */
  async longestLifetime(): Promise<{ lifetimeMs: number; deleteAt: Date } | null> {
    const [longest] = await this.broadcasts
      .aggregate<{ lifetimeMs: number; delete_at: Date }>([
        { $project: { delete_at: 1, lifetimeMs: { $subtract: ['$delete_at', '$created_at'] } } },
        { $sort: { lifetimeMs: -1 } },
        { $limit: 1 },
      ])
      .toArray();
    return longest ? { lifetimeMs: Number(longest.lifetimeMs), deleteAt: longest.delete_at } : null;
  }

  countActive(now: Date): Promise<number> {
    return this.broadcasts.countDocuments({ delete_at: { $gt: now } });
  }
}
