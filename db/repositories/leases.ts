import { type Collection, MongoServerError } from 'mongodb';

export const LEASES_COLLECTION = 'bot_leases';

export interface LeaseDoc {
  _id: string;
  owner: string;
  expires_at: Date;
}

/**
 * Named leases held by one instance at a time and kept alive by renewing them. A lease whose
 * holder stopped renewing (crashed, frozen) is free once it expires.
 */
export class LeasesRepository {
  constructor(private readonly leases: Collection<LeaseDoc>) {}

  /** Takes or renews the lease; true when `owner` holds it until `now + ttlMs`. */
  async acquire(name: string, owner: string, now: Date, ttlMs: number): Promise<boolean> {
    try {
      const lease = await this.leases.findOneAndUpdate(
        { _id: name, $or: [{ owner }, { expires_at: { $lte: now } }] },
        { $set: { owner, expires_at: new Date(now.getTime() + ttlMs) } },
        { upsert: true, returnDocument: 'after' },
      );
      return lease?.owner === owner;
    } catch (error) {
      // Held by someone else and not expired: the upsert collided with their document.
      if (error instanceof MongoServerError && error.code === 11000) return false;
      throw error;
    }
  }

  async release(name: string, owner: string): Promise<void> {
    await this.leases.deleteOne({ _id: name, owner });
  }
}
