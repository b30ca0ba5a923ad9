import type { Api } from 'grammy';
import type { Db, ObjectId } from 'mongodb';
import { deletionNotice } from '../../bot/notices.js';

/**
 * The seed's schedulers (`../shared/seeds/001_*.txt`), written the straightforward way they
 * describe, for side-by-side figures: one query for the due records, one Telegram call per message,
 * one `delete_one` per record; the broadcast deleter loads every user and makes one query per user.
 * "Rate limiting" is the simple kind: calls spaced evenly at TELEGRAM_MAX_RPS. Errors are logged and
 * skipped, as the seed does ("Failed to delete message 12345: ...").
 */

export interface BaselineDeps {
  db: Db;
  api: Api;
  botUsername: string;
  /** Keeps calls at or under TELEGRAM_MAX_RPS: waits until the next call is due. */
  pace(): Promise<void>;
  log(message: string): void;
}

/** The simplest rate limiting: calls spaced 1000 / rps ms apart, one after the other. */
export function fixedPace(rps: number): () => Promise<void> {
  const interval = 1_000 / rps;
  let next = performance.now();
  return async () => {
    next = Math.max(next + interval, performance.now());
    const wait = next - performance.now();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
  };
}

export async function baselineDeleteDueMessages(deps: BaselineDeps, now: Date) {
  const collection = deps.db.collection<{
    _id: ObjectId;
    chat_id: number;
    message_ids: number[];
    content_id: string;
  }>('pending_deletions');
  const due = await collection.find({ delete_at: { $lte: now } }).toArray();
  let messagesDeleted = 0;
  let failed = 0;
  let notices = 0;
  for (const record of due) {
    for (const messageId of record.message_ids) {
      try {
        await deps.api.deleteMessage(record.chat_id, messageId);
        messagesDeleted += 1;
      } catch (error) {
        failed += 1;
        deps.log(`Failed to delete message ${messageId}: ${(error as Error).message}`);
      }
      await deps.pace();
    }
    const notice = deletionNotice(deps.botUsername, record.content_id);
    try {
      await deps.api.sendMessage(record.chat_id, notice.text, { reply_markup: notice.reply_markup });
      notices += 1;
    } catch (error) {
      deps.log(`Failed to send deleted notification: ${(error as Error).message}`);
    }
    await deps.pace();
    await collection.deleteOne({ _id: record._id });
  }
  return { records: due.length, messagesDeleted, notices, failed };
}

export async function baselineDeleteExpiredBroadcasts(deps: BaselineDeps, now: Date) {
  const broadcasts = deps.db.collection<{ _id: ObjectId }>('broadcasts');
  const copies = deps.db.collection<{ message_id: number }>('broadcast_messages');
  const expired = await broadcasts.find({ delete_at: { $lte: now } }).toArray();
  let messagesDeleted = 0;
  let failed = 0;
  for (const broadcast of expired) {
    // "Get all users from database; delete message from each user's chat."
    const users = await deps.db.collection<{ chat_id: number }>('users').find({}).toArray();
    for (const user of users) {
      const copy = await copies.findOne({ broadcast_id: broadcast._id, chat_id: user.chat_id });
      if (!copy) continue;
      try {
        await deps.api.deleteMessage(user.chat_id, copy.message_id);
        messagesDeleted += 1;
      } catch (error) {
        failed += 1;
        deps.log(`Failed to delete broadcast message for ${user.chat_id}: ${(error as Error).message}`);
      }
      await deps.pace();
    }
    await copies.deleteMany({ broadcast_id: broadcast._id });
    await broadcasts.deleteOne({ _id: broadcast._id });
  }
  return { broadcasts: expired.length, messagesDeleted, failed };
}

export async function baselineCleanupExpiredTokens(deps: BaselineDeps, now: Date) {
  const result = await deps.db
    .collection('tokens')
    .deleteMany({ expires_at: { $lt: now }, status: { $in: ['verified', 'bypassed'] } });
  return { deleted: result.deletedCount };
}

export async function baselineResetTokenCounts(deps: BaselineDeps, now: Date) {
  const today = now.toISOString().slice(0, 10);
  const result = await deps.db.collection('token_generator_count').deleteMany({ date: { $lt: today } });
  return { deleted: result.deletedCount };
}
