import type { Db, ObjectId } from 'mongodb';
import { ensureIndexes } from '../db/indexes.js';

export interface SeedContext {
  db: Db;
  /** POST /__control/seed of the fake Bot API: creates bot messages in chats. */
  seedChats(body: unknown): Promise<Record<string, unknown>>;
  now: Date;
}

export interface Scenario {
  id: string;
  title: string;
  /** TELEGRAM_MAX_RPS for this scenario, when not the run's. */
  rps?: number;
  job: 'token-cleanup' | 'message-deleter' | 'broadcast-deleter' | 'token-count-reset';
  seed(ctx: SeedContext): Promise<void>;
  /** What is left after the run: proof the job did its work, not just that it was fast. */
  check(ctx: SeedContext, stats: Record<string, unknown>): Promise<Record<string, number>>;
}

const MESSAGE_CHATS = 1_000;
const RECORDS_PER_CHAT = 2;
const MESSAGES_PER_RECORD = 5;
const FIRST_CHAT = 1_000_000;

async function insertInBatches(db: Db, collection: string, count: number, make: (i: number) => object) {
  for (let start = 0; start < count; start += 10_000) {
    const docs = [];
    for (let i = start; i < Math.min(count, start + 10_000); i++) docs.push(make(i));
    await db.collection(collection).insertMany(docs, { ordered: false });
  }
}

const deletedInChats = (stats: Record<string, unknown>) =>
  ((stats.messages as { deleted?: number } | undefined)?.deleted ?? 0) as number;

function messageDeleter(rps?: number): Scenario {
  return {
    id: rps === undefined ? 'message-deleter' : `message-deleter-${rps}rps`,
    title: `message deleter: ${MESSAGE_CHATS * RECORDS_PER_CHAT} due records of ${MESSAGES_PER_RECORD} messages in ${MESSAGE_CHATS} chats${rps === undefined ? '' : `, at ${rps} calls/s`}`,
    ...(rps === undefined ? {} : { rps }),
    job: 'message-deleter',
    async seed(ctx) {
      await ensureIndexes(ctx.db);
      await ctx.seedChats({
        chatRange: {
          firstChatId: FIRST_CHAT,
          chatCount: MESSAGE_CHATS,
          messagesPerChat: RECORDS_PER_CHAT * MESSAGES_PER_RECORD,
        },
      });
      await insertInBatches(ctx.db, 'pending_deletions', MESSAGE_CHATS * RECORDS_PER_CHAT, (i) => {
        const chat = FIRST_CHAT + Math.floor(i / RECORDS_PER_CHAT);
        const part = i % RECORDS_PER_CHAT;
        return {
          user_id: chat,
          chat_id: chat,
          message_ids: Array.from(
            { length: MESSAGES_PER_RECORD },
            (_, k) => part * MESSAGES_PER_RECORD + k + 1,
          ),
          delete_at: new Date(ctx.now.getTime() - 60_000),
          content_id: `content${i}`,
          created_at: new Date(ctx.now.getTime() - 3_600_000),
        };
      });
    },
    async check(ctx, stats) {
      return {
        messagesDeleted: deletedInChats(stats),
        messagesExpected: MESSAGE_CHATS * RECORDS_PER_CHAT * MESSAGES_PER_RECORD,
        recordsLeft: await ctx.db.collection('pending_deletions').countDocuments(),
      };
    },
  };
}

function broadcastDeleter(recipients: number): Scenario {
  return {
    id: `broadcast-deleter-${recipients}`,
    title: `broadcast deleter: one broadcast to ${recipients.toLocaleString('en-US')} recipients`,
    job: 'broadcast-deleter',
    async seed(ctx) {
      await ensureIndexes(ctx.db);
      // The seed-style baseline looks a user's copy up by (broadcast, chat); give it an index.
      await ctx.db.collection('broadcast_messages').createIndex({ broadcast_id: 1, chat_id: 1 });
      await ctx.seedChats({
        chatRange: { firstChatId: FIRST_CHAT, chatCount: recipients, messagesPerChat: 1 },
      });
      const at = ctx.now.getTime();
      await insertInBatches(ctx.db, 'users', recipients, (i) => ({
        user_id: FIRST_CHAT + i,
        chat_id: FIRST_CHAT + i,
        first_name: `User ${i}`,
        last_name: null,
        username: `user_${i}`,
        joined_at: new Date(at - 86_400_000),
        last_seen_at: new Date(at - 3_600_000),
        blocked_at: null,
      }));
      const { insertedId } = await ctx.db.collection('broadcasts').insertOne({
        delete_at: new Date(at - 60_000),
        created_at: new Date(at - 7_200_000),
        created_by: 1,
        source_chat_id: 1,
        source_message_id: 1,
        status: 'sent',
        counts: { total: recipients, delivered: recipients, blocked: 0, failed: 0 },
      });
      await insertInBatches(ctx.db, 'broadcast_messages', recipients, (i) => ({
        broadcast_id: insertedId as ObjectId,
        chat_id: FIRST_CHAT + i,
        message_id: 1,
      }));
    },
    async check(ctx, stats) {
      return {
        messagesDeleted: deletedInChats(stats),
        messagesExpected: recipients,
        copiesLeft: await ctx.db.collection('broadcast_messages').countDocuments(),
        broadcastsLeft: await ctx.db.collection('broadcasts').countDocuments(),
      };
    },
  };
}

function tokenCleanup(): Scenario {
  const count = 200_000;
  const statuses = ['verified', 'bypassed', 'unused', 'verified'] as const;
  return {
    id: 'token-cleanup',
    title: `token cleanup: ${count.toLocaleString('en-US')} tokens of mixed status and age`,
    job: 'token-cleanup',
    async seed(ctx) {
      await ensureIndexes(ctx.db);
      const at = ctx.now.getTime();
      // A quarter each: expired verified, expired bypassed, expired unused (kept), valid verified (kept).
      await insertInBatches(ctx.db, 'tokens', count, (i) => ({
        token: `token-${i}`,
        user_id: i % 50_000,
        status: statuses[i % 4],
        created_at: new Date(at - 5 * 86_400_000),
        expires_at: new Date(i % 4 === 3 ? at + 86_400_000 : at - 86_400_000),
      }));
    },
    async check(ctx) {
      return {
        tokensLeft: await ctx.db.collection('tokens').countDocuments(),
        tokensExpectedLeft: count / 2,
      };
    },
  };
}

function tokenCountReset(): Scenario {
  const count = 100_000;
  return {
    id: 'token-count-reset',
    title: `token count reset: ${count.toLocaleString('en-US')} counters`,
    job: 'token-count-reset',
    async seed(ctx) {
      await ensureIndexes(ctx.db);
      const today = ctx.now.toISOString().slice(0, 10);
      const yesterday = new Date(ctx.now.getTime() - 86_400_000).toISOString().slice(0, 10);
      await insertInBatches(ctx.db, 'token_generator_count', count, (i) => ({
        user_id: i,
        date: i % 2 === 0 ? yesterday : today,
        count: 1 + (i % 3),
      }));
    },
    async check(ctx) {
      return {
        countersLeft: await ctx.db.collection('token_generator_count').countDocuments(),
        countersExpectedLeft: count / 2,
      };
    },
  };
}

function idleTick(): Scenario {
  return {
    id: 'idle',
    title: 'idle tick: message deleter with nothing due',
    job: 'message-deleter',
    async seed(ctx) {
      await ensureIndexes(ctx.db);
    },
    async check() {
      return {};
    },
  };
}

export function scenarios(quick: boolean): Scenario[] {
  return [
    idleTick(),
    messageDeleter(),
    // At a rate where Telegram's one-message-per-second-per-chat rule no longer dominates.
    ...(quick ? [] : [messageDeleter(100)]),
    ...(quick ? [2_000, 20_000] : [20_000, 100_000]).map(broadcastDeleter),
    tokenCleanup(),
    tokenCountReset(),
  ];
}
