import type { Collection, Filter } from 'mongodb';
import { TOKEN_STATUSES, type TokenDoc, type TokenStatus } from '../collections.js';

/** Tokens that have served their purpose; unused ones are kept even when expired (seed rule). */
export const CLEANABLE_TOKEN_STATUSES: readonly TokenStatus[] = ['verified', 'bypassed'];

export function expiredUsedTokensFilter(now: Date): Filter<TokenDoc> {
  return { expires_at: { $lt: now }, status: { $in: [...CLEANABLE_TOKEN_STATUSES] } };
}

export type VerifyOutcome = 'verified' | 'not_found' | 'other_user' | 'expired' | 'already_used';

export class TokensRepository {
  constructor(private readonly tokens: Collection<TokenDoc>) {}

  async deleteExpiredUsed(now: Date): Promise<number> {
    const result = await this.tokens.deleteMany(expiredUsedTokensFilter(now));
    return result.deletedCount;
  }

  countExpiredUsed(now: Date): Promise<number> {
    return this.tokens.countDocuments(expiredUsedTokensFilter(now));
  }

  async insertUnused(input: {
    token: string;
    userId: number;
    now: Date;
    expiresAt: Date;
    /** The content the user asked for, delivered as soon as the token is verified. */
    contentId?: string;
  }): Promise<TokenDoc> {
    const doc: TokenDoc = {
      token: input.token,
      user_id: input.userId,
      status: 'unused',
      created_at: input.now,
      expires_at: input.expiresAt,
      ...(input.contentId === undefined ? {} : { content_id: input.contentId }),
    };
    await this.tokens.insertOne(doc);
    return doc;
  }

  /**
   * Marks an unused token of this user as verified. The conditional update makes a double tap on
   * the link (or two instances) verify once; the follow-up read only explains a refusal.
   */
  async verify(
    token: string,
    userId: number,
    now: Date,
  ): Promise<{ outcome: VerifyOutcome; doc?: TokenDoc }> {
    const verified = await this.tokens.findOneAndUpdate(
      { token, user_id: userId, status: 'unused', expires_at: { $gt: now } },
      { $set: { status: 'verified', verified_at: now } },
      { returnDocument: 'after' },
    );
    if (verified) return { outcome: 'verified', doc: verified };
    return { outcome: await this.whyNotVerified(token, userId) };
  }

  private async whyNotVerified(token: string, userId: number): Promise<Exclude<VerifyOutcome, 'verified'>> {
    const existing = await this.tokens.findOne({ token });
    if (!existing) return 'not_found';
    if (existing.user_id !== userId) return 'other_user';
    if (existing.status !== 'unused') return 'already_used';
    return 'expired';
  }

  /** The user's access grant that lasts longest, if any is still valid. */
  findValidAccess(userId: number, now: Date): Promise<TokenDoc | null> {
    return this.tokens.findOne(
      { user_id: userId, status: { $in: [...CLEANABLE_TOKEN_STATUSES] }, expires_at: { $gt: now } },
      { sort: { expires_at: -1 } },
    );
  }

  async grantBypass(input: { token: string; userId: number; adminId: number; now: Date; expiresAt: Date }) {
    const doc: TokenDoc = {
      token: input.token,
      user_id: input.userId,
      status: 'bypassed',
      created_at: input.now,
      expires_at: input.expiresAt,
      granted_by: input.adminId,
    };
    await this.tokens.insertOne(doc);
    return doc;
  }

  async countByStatus(): Promise<Record<TokenStatus, number>> {
    const counts = Object.fromEntries(TOKEN_STATUSES.map((status) => [status, 0])) as Record<
      TokenStatus,
      number
    >;
    const rows = await this.tokens
      .aggregate<{ _id: TokenStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }])
      .toArray();
    for (const row of rows) {
      if (row._id in counts) counts[row._id] = row.n;
    }
    return counts;
  }
}
