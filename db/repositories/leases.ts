import { type Collection, MongoServerError } from 'mongodb';
import type { LeaseDoc } from '../collections.js';
import { notAfterServerNow, serverNowPlus } from '../server-time.js';

/**
 * Named leases held by one instance at a time and kept alive by renewing them. A lease whose
 * holder stopped renewing (crashed, frozen) is free once it expires. Expiry is set and judged
 * with the database server's clock, so hosts whose clocks differ agree on who holds it.
 */
export class LeasesRepository {
  constructor(private readonly leases: Collection<LeaseDoc>) {}

  /** Takes or renews the lease; true when `owner` holds it for the next `ttlMs`. */
  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    try {
      const lease = await this.leases.findOneAndUpdate(
        { _id: name, $or: [{ owner }, notAfterServerNow('expires_at')] },
        [{ $set: { owner: { $literal: owner }, expires_at: serverNowPlus(ttlMs) } }],
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
