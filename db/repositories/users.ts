import type { Collection, FindCursor } from 'mongodb';
import type { UserDoc } from '../collections.js';

export interface TelegramUserInfo {
  id: number;
  first_name: string;
  last_name?: string | undefined;
  username?: string | undefined;
}

export class UsersRepository {
  constructor(private readonly users: Collection<UserDoc>) {}

  /** Registers a new user or refreshes a known one; talking to the bot proves it is not blocked. */
  async upsertFromTelegram(user: TelegramUserInfo, chatId: number, now: Date): Promise<{ created: boolean }> {
    const result = await this.users.updateOne(
      { user_id: user.id },
      {
        $set: {
          chat_id: chatId,
          first_name: user.first_name,
          last_name: user.last_name ?? null,
          username: user.username ?? null,
          last_seen_at: now,
          blocked_at: null,
        },
        $setOnInsert: { joined_at: now },
      },
      { upsert: true },
    );
    return { created: result.upsertedCount === 1 };
  }

  findByUserId(userId: number): Promise<UserDoc | null> {
    return this.users.findOne({ user_id: userId });
  }

  /** Marks the owners of these private chats as unreachable; already-blocked users keep their date. */
  async markBlockedByChat(chatIds: readonly number[], at: Date): Promise<number> {
    if (chatIds.length === 0) return 0;
    const result = await this.users.updateMany(
      { chat_id: { $in: [...chatIds] }, blocked_at: null },
      { $set: { blocked_at: at } },
    );
    return result.modifiedCount;
  }

  /** True when the user was reachable until now (a repeated "blocked" changes nothing). */
  async markBlocked(userId: number, at: Date): Promise<boolean> {
    const result = await this.users.updateOne(
      { user_id: userId, blocked_at: null },
      { $set: { blocked_at: at } },
    );
    return result.modifiedCount === 1;
  }

  async markUnblocked(userId: number): Promise<void> {
    await this.users.updateOne({ user_id: userId }, { $set: { blocked_at: null } });
  }

  /** Reachable users in a stable order, streamed; never loads the whole collection. */
  reachableRecipients(
    batchSize: number,
    afterId?: UserDoc['_id'],
  ): FindCursor<Pick<UserDoc, '_id' | 'chat_id'>> {
    return this.users
      .find(afterId ? { blocked_at: null, _id: { $gt: afterId } } : { blocked_at: null }, {
        projection: { _id: 1, chat_id: 1 },
      })
      .sort({ _id: 1 })
      .batchSize(batchSize) as FindCursor<Pick<UserDoc, '_id' | 'chat_id'>>;
  }

  async counts(): Promise<{ active: number; blocked: number }> {
    const [active, blocked] = await Promise.all([
      this.users.countDocuments({ blocked_at: null }),
      this.users.countDocuments({ blocked_at: { $ne: null } }),
    ]);
    return { active, blocked };
  }
}
