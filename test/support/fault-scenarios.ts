import type { Collection, Db, ObjectId } from 'mongodb';
import type { Collections, RunDoc } from '../../db/collections.js';
import type { FakeBotApi } from './fake-bot-api/index.js';
import { quietSchedules } from './quiet-schedules.js';

/** Shared seeding and call-log analysis for the fault-injection cases. */

export function runsOf(db: Db): Collection<RunDoc> {
  return db.collection<RunDoc>('scheduler_runs');
}

/** Environment of a bot or CLI process talking to this fake server and database. */
export function processEnv(
  fake: FakeBotApi,
  database: { uri: string; dbName: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MONGODB_URI: database.uri,
    MONGODB_DB: database.dbName,
    LOG_FORMAT: 'json',
    TELEGRAM_MAX_RPS: '1000',
    TELEGRAM_PER_CHAT_RPS: '100',
    ...quietSchedules(extra.SCHEDULER_TIMEZONE),
    ...extra,
  };
}

export interface SeededRecord {
  chatId: number;
  messageIds: number[];
  contentId: string;
}

/**
 * `records` pending deletions spread round-robin over `chats` chats (so a batch touches many
 * chats), each with `messagesPerRecord` bot messages really present in the fake's chat.
 */
export async function seedPendingDeletions(
  fake: FakeBotApi,
  collections: Pick<Collections, 'pendingDeletions'>,
  options: {
    records: number;
    chats: number;
    firstChatId: number;
    messagesPerRecord?: number;
    /** delete_at of record i; default: due ten minutes ago, in record order. */
    deleteAt?: (index: number) => Date;
    contentPrefix?: string;
  },
): Promise<SeededRecord[]> {
  const base = Date.now() - 10 * 60_000;
  const seeded: SeededRecord[] = [];
  const docs = [];
  for (let i = 0; i < options.records; i++) {
    const chatId = options.firstChatId + (i % options.chats);
    fake.addChat(chatId, { user: { id: chatId, first_name: `User${chatId}` } });
    const messageIds = fake.seedMessages(chatId, options.messagesPerRecord ?? 2);
    // Content ids have the shape of real ones ([A-Za-z0-9_-]{8,40}) and no id is a prefix of another.
    const contentId = `${options.contentPrefix ?? 'cnt'}${String(i).padStart(5, '0')}xx`;
    seeded.push({ chatId, messageIds, contentId });
    docs.push({
      user_id: chatId,
      chat_id: chatId,
      message_ids: messageIds,
      delete_at: options.deleteAt?.(i) ?? new Date(base + i),
      content_id: contentId,
      created_at: new Date(base - 60_000),
    });
  }
  await collections.pendingDeletions.insertMany(docs);
  return seeded;
}

export interface SeededBroadcast {
  broadcastId: ObjectId;
  copies: { chatId: number; messageId: number }[];
}

/** One expired broadcast already delivered to `recipients` chats: a copy in each fake chat. */
export async function seedExpiredBroadcast(
  fake: FakeBotApi,
  collections: Pick<Collections, 'broadcasts' | 'broadcastMessages'>,
  options: { recipients: number; firstChatId: number; adminChatId: number },
): Promise<SeededBroadcast> {
  fake.addChat(options.adminChatId, { user: { id: options.adminChatId, first_name: 'Admin' } });
  const [source] = fake.seedMessages(options.adminChatId, ['📢 Big announcement'], {
    from: { id: options.adminChatId, first_name: 'Admin' },
  });
  const ranges = fake.seedBulk(
    Array.from({ length: options.recipients }, (_, i) => ({ chatId: options.firstChatId + i, count: 1 })),
  );
  const copies = ranges.map((range) => ({ chatId: range.chatId, messageId: range.lastId }));
  const now = Date.now();
  const { insertedId } = await collections.broadcasts.insertOne({
    delete_at: new Date(now - 60_000),
    created_at: new Date(now - 3_600_000),
    created_by: options.adminChatId,
    source_chat_id: options.adminChatId,
    source_message_id: source ?? 1,
    status: 'sent',
    counts: { total: copies.length, delivered: copies.length, blocked: 0, failed: 0 },
    finished_at: new Date(now - 3_500_000),
  });
  await collections.broadcastMessages.insertMany(
    copies.map((copy) => ({ broadcast_id: insertedId, chat_id: copy.chatId, message_id: copy.messageId })),
  );
  return { broadcastId: insertedId, copies };
}

const key = (chatId: unknown, messageId: unknown) => `${chatId}:${messageId}`;

/**
 * How many successful delete calls named each message (`chat:message`). The fake's
 * deleteMessages skips ids it cannot find, as Telegram documents, so a second deletion of a
 * message shows up here as a second successful call naming it, not as an error.
 */
export function deleteCallsPerMessage(fake: FakeBotApi): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of fake.calls) {
    if (!call.ok) continue;
    const ids =
      call.method === 'deleteMessages'
        ? (call.params.message_ids as unknown[])
        : call.method === 'deleteMessage'
          ? [call.params.message_id]
          : [];
    for (const id of ids) {
      const k = key(call.params.chat_id, id);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return counts;
}

/** Successful "deleted" notices per seeded record, recognised by the content link in the button. */
export function noticesPerRecord(fake: FakeBotApi, records: readonly SeededRecord[]): number[] {
  const byLink = new Map<string, number>();
  for (const call of fake.calls) {
    if (call.method !== 'sendMessage' || !call.ok) continue;
    const markup = JSON.stringify(call.params.reply_markup ?? '');
    const link = /start=c_([A-Za-z0-9_-]+)"/.exec(markup)?.[1];
    if (link === undefined) continue;
    const k = `${call.params.chat_id}:${link}`;
    byLink.set(k, (byLink.get(k) ?? 0) + 1);
  }
  return records.map((record) => byLink.get(`${record.chatId}:${record.contentId}`) ?? 0);
}

/** Messages of the seeded records that are still visible in the fake (should end empty). */
export function undeletedMessages(fake: FakeBotApi, records: readonly SeededRecord[]): string[] {
  const left: string[] = [];
  const visibleByChat = new Map<number, Set<number>>();
  for (const record of records) {
    let visible = visibleByChat.get(record.chatId);
    if (!visible) {
      visible = new Set(fake.chat(record.chatId).messages.map((message) => message.message_id));
      visibleByChat.set(record.chatId, visible);
    }
    for (const id of record.messageIds) if (visible.has(id)) left.push(key(record.chatId, id));
  }
  return left;
}

/** Sum of (n - 1) over counts above one: how many times something happened more than once. */
export function repeats(counts: Iterable<number>): number {
  let total = 0;
  for (const n of counts) if (n > 1) total += n - 1;
  return total;
}

/**
 * `count` registered, reachable users (the users collection) whose private chats exist in the
 * fake, so a broadcast has someone to copy to. Returns their chat ids.
 */
export async function seedUsers(
  fake: FakeBotApi,
  collections: Pick<Collections, 'users'>,
  options: { count: number; firstChatId: number },
): Promise<number[]> {
  const now = new Date();
  const chatIds = Array.from({ length: options.count }, (_, i) => options.firstChatId + i);
  for (const chatId of chatIds) fake.addChat(chatId, { user: { id: chatId, first_name: `User${chatId}` } });
  await collections.users.insertMany(
    chatIds.map((chatId) => ({
      user_id: chatId,
      chat_id: chatId,
      first_name: `User${chatId}`,
      last_name: null,
      username: null,
      joined_at: now,
      last_seen_at: now,
      blocked_at: null,
    })),
  );
  return chatIds;
}

export interface Copy {
  chatId: number;
  messageId: number;
}

/** Copies of one source message that are visible in the given chats of the fake. */
export function visibleCopies(
  fake: FakeBotApi,
  chatIds: readonly number[],
  source: { chatId: number; messageId: number },
): Copy[] {
  const copies: Copy[] = [];
  for (const chatId of chatIds) {
    for (const message of fake.chat(chatId).messages) {
      const from = message.copied_from;
      if (from?.chat_id === source.chatId && from.message_id === source.messageId) {
        copies.push({ chatId, messageId: message.message_id });
      }
    }
  }
  return copies;
}

/** Texts the bot sent into a chat (visible or not), in order. */
export function botTexts(fake: FakeBotApi, chatId: number): string[] {
  return fake.calls
    .filter((call) => call.ok && call.method === 'sendMessage' && call.params.chat_id === chatId)
    .map((call) => String(call.params.text ?? ''));
}

/**
 * Checks an invariant over and over while a test runs (every `intervalMs`), collecting every
 * violation it reports, so a state that holds only for a moment is caught too. `stop()` runs
 * one last check and returns everything seen.
 */
export function watchInvariant(
  check: () => Promise<string[]>,
  intervalMs = 100,
): { stop(): Promise<string[]>; readonly checks: number } {
  const violations = new Set<string>();
  let stopped = false;
  let checks = 0;
  const loop = (async () => {
    while (!stopped) {
      for (const violation of await check()) violations.add(violation);
      checks += 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    get checks() {
      return checks;
    },
    async stop() {
      stopped = true;
      await loop;
      for (const violation of await check()) violations.add(violation);
      return [...violations];
    },
  };
}

/** Pairs of runs (by id) whose [started_at, finished_at] intervals overlap; running ones are open-ended. */
export function overlappingRuns(runs: readonly RunDoc[]): string[] {
  const worked = runs
    .filter((run) => run.status !== 'skipped')
    .map((run) => ({
      id: run._id,
      from: run.started_at.getTime(),
      to: run.finished_at?.getTime() ?? Number.POSITIVE_INFINITY,
    }))
    .sort((a, b) => a.from - b.from);
  const overlaps: string[] = [];
  worked.forEach((run, index) => {
    for (const later of worked.slice(index + 1)) {
      if (later.from < run.to) overlaps.push(`${run.id} overlaps ${later.id}`);
    }
  });
  return overlaps;
}

/** The value of one unlabelled metric in Prometheus text, or undefined. */
export function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
