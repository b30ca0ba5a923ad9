import { type Collection, MongoServerError } from 'mongodb';
import type { TokenCountDoc } from '../collections.js';

const DUPLICATE_KEY = 11000;

export type CountOutcome = { allowed: true; count: number } | { allowed: false; count: number };

export class TokenCountsRepository {
  constructor(private readonly counts: Collection<TokenCountDoc>) {}

  /**
   * Takes one unit of the user's daily allowance, atomically. The filter only matches while the
   * counter is below the limit; at the limit the upsert collides with the unique (user_id, date)
   * index, which is how "limit reached" is detected without a read-then-write race.
   */
  async takeOne(userId: number, date: string, limit: number): Promise<CountOutcome> {
    if (limit <= 0) return { allowed: false, count: 0 };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const doc = await this.counts.findOneAndUpdate(
          { user_id: userId, date, count: { $lt: limit } },
          { $inc: { count: 1 } },
          { upsert: true, returnDocument: 'after' },
        );
        return { allowed: true, count: doc?.count ?? 1 };
      } catch (error) {
        if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY) throw error;
        const current = await this.counts.findOne({ user_id: userId, date });
        // Two first-of-the-day requests raced on the insert: the loser simply tries again.
        if (current && current.count >= limit) return { allowed: false, count: current.count };
      }
    }
    throw new Error(`could not update the token counter of user ${userId} for ${date}`);
  }

  async current(userId: number, date: string): Promise<number> {
    const doc = await this.counts.findOne({ user_id: userId, date });
    return doc?.count ?? 0;
  }

  /** Counters of days before `today` (`YYYY-MM-DD`; string order equals date order). */
  async deleteBefore(today: string): Promise<number> {
    const result = await this.counts.deleteMany({ date: { $lt: today } });
    return result.deletedCount;
  }

  countBefore(today: string): Promise<number> {
    return this.counts.countDocuments({ date: { $lt: today } });
  }
}
