import type { Collection } from 'mongodb';
import type { RateShareDoc } from '../collections.js';
import { SERVER_NOW, serverNowPlus } from '../server-time.js';

/**
 * Who shares the bot token's rate budget right now. Each member stamps itself alive with the
 * database server's clock and counts the members whose stamp has not lapsed, so instances whose
 * clocks differ still count the same members.
 */
export class RateSharesRepository {
  constructor(private readonly shares: Collection<RateShareDoc>) {}

  /**
   * Marks `instance` a member for the next `ttlMs` and returns how many members there are,
   * itself included. Two round trips: an upsert and a count (an aggregate cannot write and
   * answer in one).
   */
  async beat(instance: string, ttlMs: number): Promise<number> {
    await this.shares.updateOne(
      { _id: instance },
      [{ $set: { heartbeat_at: SERVER_NOW, expire_at: serverNowPlus(ttlMs) } }],
      { upsert: true },
    );
    return this.shares.countDocuments({ $expr: { $gt: ['$expire_at', SERVER_NOW] } });
  }
}
