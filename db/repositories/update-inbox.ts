import { type Collection, type Document, MongoServerError } from 'mongodb';
import type { UpdateInboxDoc } from '../collections.js';
import { notAfterServerNow, SERVER_NOW, serverNowPlus } from '../server-time.js';

/** Telegram gives up redelivering an update after about a day; the record outlives that. */
export const INBOX_RETENTION_MS = 48 * 60 * 60 * 1000;

/** An update some instance now holds the claim on. */
export interface ClaimedUpdate {
  updateId: number;
  key: string;
  update: Record<string, unknown>;
  /** 1 for a first claim; more when an instance died holding it. */
  attempts: number;
}

/** What `begin` found: the update is ours now, was seen before, or its chat is busy elsewhere. */
export type BeginResult = 'begun' | 'duplicate' | 'busy';

const isDuplicateKey = (error: unknown) => error instanceof MongoServerError && error.code === 11000;

const dropClaim: Document = { $unset: ['owner', 'lease_expires_at'] };

/**
 * Every received update by update_id, so each is handled once across instances, however often
 * Telegram delivers it and to whichever replica. States go pending → handling → done; a handling
 * update carries its owner and a lease in the database server's time, renewed while the owner
 * works, so an update whose owner died can be taken over once the lease runs out. At most one
 * update per sequence key is handling at a time (unique partial index `one_handling_per_key`).
 */
export class UpdateInboxRepository {
  constructor(
    private readonly inbox: Collection<UpdateInboxDoc>,
    private readonly retentionMs = INBOX_RETENTION_MS,
  ) {}

  /** Records an update as pending; false when its update_id was recorded before (a redelivery). */
  async record(update: { update_id: number }, key: string): Promise<boolean> {
    return this.insert(update, key, { state: 'pending', attempts: 0 });
  }

  /**
   * For a receiver that handles updates in its own order (long polling): records the update as
   * handling by `owner` straight away. `duplicate` when it is done or a live owner holds it;
   * `busy` when another update of the same key is being handled; an update whose owner's lease
   * ran out (or that is still pending) is taken over.
   */
  async begin(
    update: { update_id: number },
    key: string,
    owner: string,
    leaseMs: number,
  ): Promise<BeginResult> {
    try {
      const inserted = await this.insert(update, key, {
        state: 'handling',
        owner: { $literal: owner },
        attempts: 1,
        lease_expires_at: serverNowPlus(leaseMs),
      });
      if (inserted) return 'begun';
      const taken = await this.inbox.findOneAndUpdate(
        {
          _id: update.update_id,
          $or: [{ state: 'pending' }, { state: 'handling', ...notAfterServerNow('lease_expires_at') }],
        },
        [{ $set: claimFields(owner, leaseMs) }],
        { returnDocument: 'after' },
      );
      return taken ? 'begun' : 'duplicate';
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      // Another update of the key in hand (a concurrent copy of this one is caught by insert).
      return (await this.exists(update.update_id)) ? 'duplicate' : 'busy';
    }
  }

  /**
   * Claims the lowest pending update of `key` for `owner`. Undefined when none is pending or
   * another update of the key is being handled (by anyone: that handler takes the next one).
   */
  async claimNext(key: string, owner: string, leaseMs: number): Promise<ClaimedUpdate | undefined> {
    try {
      const doc = await this.inbox.findOneAndUpdate(
        { key, state: 'pending' },
        [{ $set: claimFields(owner, leaseMs) }],
        { sort: { _id: 1 }, returnDocument: 'after' },
      );
      return doc ? toClaimed(doc) : undefined;
    } catch (error) {
      if (isDuplicateKey(error)) return undefined;
      throw error;
    }
  }

  /** Claims one update whose owner's lease ran out (the owner died or stalled), oldest lease first. */
  async takeOverExpired(owner: string, leaseMs: number): Promise<ClaimedUpdate | undefined> {
    const doc = await this.inbox.findOneAndUpdate(
      { state: 'handling', ...notAfterServerNow('lease_expires_at') },
      [{ $set: claimFields(owner, leaseMs) }],
      { sort: { lease_expires_at: 1 }, returnDocument: 'after' },
    );
    return doc ? toClaimed(doc) : undefined;
  }

  /** Keys that have pending updates, by their oldest pending update; at most `limit` updates read. */
  async pendingKeys(limit: number): Promise<string[]> {
    const docs = await this.inbox
      .find({ state: 'pending' }, { projection: { key: 1 }, sort: { _id: 1 }, limit })
      .toArray();
    return [...new Set(docs.map((doc) => doc.key))];
  }

  /** Extends the leases `owner` holds on these updates; returns how many it still held. */
  async renew(updateIds: readonly number[], owner: string, leaseMs: number): Promise<number> {
    if (updateIds.length === 0) return 0;
    const result = await this.inbox.updateMany({ _id: { $in: [...updateIds] }, owner, state: 'handling' }, [
      { $set: { lease_expires_at: serverNowPlus(leaseMs) } },
    ]);
    return result.matchedCount;
  }

  /** Marks an update done (its claim released with it); false when `owner` no longer held it. */
  async finish(updateId: number, owner: string): Promise<boolean> {
    const result = await this.inbox.updateOne({ _id: updateId, owner, state: 'handling' }, [
      { $set: { state: 'done', done_at: SERVER_NOW } },
      { $unset: ['owner', 'lease_expires_at', 'update'] },
    ]);
    return result.modifiedCount === 1;
  }

  /** Hands claimed updates that were not started back to pending, for any instance to take. */
  async release(updateIds: readonly number[], owner: string): Promise<void> {
    if (updateIds.length === 0) return;
    await this.inbox.updateMany({ _id: { $in: [...updateIds] }, owner, state: 'handling' }, [
      { $set: { state: 'pending' } },
      dropClaim,
    ]);
  }

  private async exists(updateId: number): Promise<boolean> {
    return (await this.inbox.countDocuments({ _id: updateId }, { limit: 1 })) > 0;
  }

  private async insert(update: { update_id: number }, key: string, fields: Document): Promise<boolean> {
    const fresh = {
      $mergeObjects: [
        { $literal: { _id: update.update_id, key, update } },
        { received_at: SERVER_NOW, expire_at: serverNowPlus(this.retentionMs) },
        fields,
      ],
    };
    try {
      // `state` tells a stored record from the bare document an upsert starts with.
      const result = await this.inbox.updateOne(
        { _id: update.update_id },
        [{ $replaceWith: { $cond: [{ $ifNull: ['$state', false] }, '$$ROOT', fresh] } }],
        { upsert: true },
      );
      return result.upsertedCount === 1;
    } catch (error) {
      // Two replicas inserting the same update at once: the other one won.
      if (isDuplicateKey(error) && (await this.exists(update.update_id))) return false;
      throw error;
    }
  }
}

function claimFields(owner: string, leaseMs: number): Document {
  return {
    state: 'handling',
    owner: { $literal: owner },
    lease_expires_at: serverNowPlus(leaseMs),
    attempts: { $add: [{ $ifNull: ['$attempts', 0] }, 1] },
  };
}

function toClaimed(doc: UpdateInboxDoc): ClaimedUpdate {
  return {
    updateId: doc._id,
    key: doc.key,
    update: doc.update ?? { update_id: doc._id },
    attempts: doc.attempts,
  };
}
