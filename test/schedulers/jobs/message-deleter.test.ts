import { MongoNetworkError } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DELETION_MARGIN_MS,
  RUN_ALLOWANCE_MS,
  safeLifetimeMs,
  TELEGRAM_DELETE_WINDOW_MS,
} from '../../../bot/deletion/deletion-window.js';
import { parseStartPayload } from '../../../bot/links.js';
import { CLICK_HERE } from '../../../bot/notices.js';
import type { PendingDeletionDoc } from '../../../db/collections.js';
import { deleteDueMessages } from '../../../schedulers/jobs/index.js';
import { readDeletionBacklog } from '../../../src/ops/deletion-backlog.js';
import { type JobHarness, startJobHarness } from '../../support/job-harness.js';
import { useTestDatabase } from '../../support/test-db.js';
import { waitFor } from '../../support/wait.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);
const user = (id: number) => ({ id, first_name: `User ${id}` });

describe('message deleter', () => {
  const db = useTestDatabase();
  let h: JobHarness;

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db(), { batchSize: 3, now: NOW });
  });
  afterEach(() => h.close());

  /** A chat with `count` bot messages (content a user received) and its pending deletion record. */
  async function seedDelivery(
    chatId: number,
    count: number,
    deleteAt: Date,
    contentId = `content-${chatId}`,
  ) {
    h.fake.addChat(chatId, { user: user(chatId) });
    const messageIds = h.fake.seedMessages(chatId, count);
    const record: PendingDeletionDoc = {
      user_id: chatId,
      chat_id: chatId,
      message_ids: messageIds,
      delete_at: deleteAt,
      content_id: contentId,
      created_at: minutes(-30),
    };
    await db().collections.pendingDeletions.insertOne(record);
    return messageIds;
  }

  const remainingRecords = () => db().collections.pendingDeletions.find().toArray();

  it('deletes due messages, leaves a Click Here notice leading back to the content, and removes the record', async () => {
    await seedDelivery(1001, 2, minutes(-5), 'abcDEF123_x');
    await seedDelivery(1002, 1, NOW); // due exactly now
    await seedDelivery(1003, 1, minutes(1)); // not yet

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(result).toEqual({ records: 2, messagesDeleted: 3, notices: 2, failed: 0, deferred: 0 });
    const chat = h.fake.chat(1001);
    expect(chat.deleted.map((entry) => entry.message.message_id)).toEqual([1, 2]);
    expect(chat.messages).toHaveLength(1);
    const notice = chat.messages[0]!;
    const button = notice.reply_markup?.inline_keyboard[0]?.[0] as { text: string; url: string };
    expect(button.text).toBe(CLICK_HERE);
    const url = new URL(button.url);
    expect(url.origin + url.pathname).toBe(`https://t.me/${h.fake.botInfo.username}`);
    expect(parseStartPayload(url.searchParams.get('start') ?? '')).toEqual({
      kind: 'content',
      contentId: 'abcDEF123_x',
    });

    expect(h.fake.chat(1002).deleted).toHaveLength(1);
    expect(h.fake.chat(1003).deleted).toHaveLength(0);
    expect((await remainingRecords()).map((record) => record.chat_id)).toEqual([1003]);
  });

  it('batches one deleteMessages call per chat and batch, however many records the chat has', async () => {
    h.fake.addChat(2001, { user: user(2001) });
    const ids = h.fake.seedMessages(2001, 6);
    await db().collections.pendingDeletions.insertMany([
      {
        user_id: 2001,
        chat_id: 2001,
        message_ids: ids.slice(0, 3),
        delete_at: minutes(-2),
        content_id: 'aaaaaaaa',
        created_at: NOW,
      },
      {
        user_id: 2001,
        chat_id: 2001,
        message_ids: ids.slice(3),
        delete_at: minutes(-1),
        content_id: 'bbbbbbbb',
        created_at: NOW,
      },
    ]);
    const result = await deleteDueMessages(h.deps, h.input(NOW));
    expect(result).toMatchObject({ records: 2, messagesDeleted: 6, notices: 2 });
    expect(h.fake.callCount('deleteMessages')).toBe(1);
    expect(h.fake.callCount('deleteMessage')).toBe(0);
    expect(h.fake.chat(2001).messages.map((message) => message.text)).toHaveLength(2);
  });

  it('counts messages that are already gone as done', async () => {
    const [first] = await seedDelivery(3001, 2, minutes(-1));
    await h.deps.api.deleteMessage(3001, first!);
    const result = await deleteDueMessages(h.deps, h.input(NOW));
    expect(result).toMatchObject({ records: 1, messagesDeleted: 2, notices: 1, failed: 0 });
    expect(await remainingRecords()).toEqual([]);
  });

  it('gives up on messages Telegram can no longer delete (older than 48 hours), once, without a false notice', async () => {
    h.fake.addChat(4001, { user: user(4001) });
    const old = h.fake.seedMessages(4001, 2, { date: Math.floor(NOW.getTime() / 1000) - 49 * 3600 });
    const fresh = h.fake.seedMessages(4001, 1);
    await db().collections.pendingDeletions.insertMany([
      {
        user_id: 4001,
        chat_id: 4001,
        message_ids: old,
        delete_at: minutes(-1),
        content_id: 'oldoldold',
        created_at: NOW,
      },
      {
        user_id: 4001,
        chat_id: 4001,
        message_ids: [old[0]!, ...fresh],
        delete_at: minutes(-1),
        content_id: 'mixedmix',
        created_at: NOW,
      },
    ]);

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(result).toEqual({ records: 2, messagesDeleted: 1, notices: 1, failed: 2, deferred: 0 });
    expect(h.fake.chat(4001).messages.map((message) => message.message_id)).toEqual([...old, 4]);
    expect(await remainingRecords()).toEqual([]);
    const refusals = h.logs.records().filter((record) => /refuses to delete/.test(String(record.msg)));
    expect(refusals.map((record) => record.messageId)).toEqual(old);

    // A second run finds nothing to do and logs nothing more.
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ records: 0 });
    expect(h.logs.records().filter((record) => /refuses to delete/.test(String(record.msg)))).toHaveLength(2);
  });

  it('deletes in chats whose user blocked the bot (Telegram allows it), skips the notice there and marks the user blocked', async () => {
    // Must hold: a block does not stop deletion (Telegram refuses only sends in such a chat), so
    // the content disappears; the notice cannot be delivered and the user is marked blocked.
    await db().collections.users.insertOne({
      user_id: 5001,
      chat_id: 5001,
      first_name: 'Blocker',
      last_name: null,
      username: null,
      joined_at: minutes(-100),
      last_seen_at: minutes(-100),
      blocked_at: null,
    });
    await seedDelivery(5001, 2, minutes(-1));
    await seedDelivery(5002, 1, minutes(-1));
    h.fake.blockBot(5001);

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(result).toEqual({ records: 2, messagesDeleted: 3, notices: 1, failed: 0, deferred: 0 });
    expect(await remainingRecords()).toEqual([]);
    expect(h.fake.messages(5001)).toEqual([]);
    expect(h.fake.chat(5001).deleted).toHaveLength(2);
    expect((await db().collections.users.findOne({ user_id: 5001 }))?.blocked_at).toEqual(NOW);
    const notices = h.fake.calls.filter(
      (call) => call.method === 'sendMessage' && call.params.chat_id === 5001,
    );
    expect(notices.map((call) => call.description)).toEqual(['Forbidden: bot was blocked by the user']);
  });

  it('treats deactivated accounts and unknown chats as unreachable, like a block', async () => {
    await seedDelivery(5101, 1, minutes(-1));
    h.fake.deactivateUser(5101);
    await db().collections.pendingDeletions.insertOne({
      user_id: 5199,
      chat_id: 5199, // a chat Telegram does not know: "Bad Request: chat not found"
      message_ids: [1, 2],
      delete_at: minutes(-1),
      content_id: 'ghostchat',
      created_at: NOW,
    });

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(result).toEqual({ records: 2, messagesDeleted: 0, notices: 0, failed: 3, deferred: 0 });
    expect(await remainingRecords()).toEqual([]);
    const answers = h.fake.calls
      .filter((call) => call.method === 'deleteMessages')
      .map((call) => call.description);
    expect(answers.sort()).toEqual(['Bad Request: chat not found', 'Forbidden: user is deactivated']);
    expect(h.fake.callCount('sendMessage')).toBe(0);
  });

  it('keeps records through 5xx errors, counts the attempts, and finishes once the server recovers', async () => {
    await seedDelivery(6001, 2, minutes(-1));
    h.fake.injectFault({ method: 'deleteMessages', chatId: 6001, status: 502, times: Infinity });

    const failed = await deleteDueMessages(h.deps, h.input(NOW));
    expect(failed).toEqual({ records: 0, messagesDeleted: 0, notices: 0, failed: 0, deferred: 1 });
    // One call plus two retries within the run.
    expect(h.fake.callCount('deleteMessages')).toBe(3);
    expect(await remainingRecords()).toMatchObject([{ attempts: 1, last_error: '502 Bad Gateway' }]);
    expect(h.fake.chat(6001).deleted).toEqual([]);

    h.fake.clearFaults();
    const recovered = await deleteDueMessages(h.deps, h.input(NOW));
    expect(recovered).toMatchObject({ records: 1, messagesDeleted: 2, notices: 1 });
    expect(await remainingRecords()).toEqual([]);
  });

  it('keeps each deferred record with the error that stopped it', async () => {
    await seedDelivery(6011, 1, minutes(-1));
    await seedDelivery(6012, 1, minutes(-1));
    h.fake.injectFault({ method: 'deleteMessages', chatId: 6011, status: 502, times: Infinity });
    h.fake.injectFault({ method: 'deleteMessages', chatId: 6012, status: 500, times: Infinity });
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ deferred: 2 });
    const records = await db().collections.pendingDeletions.find().sort({ chat_id: 1 }).toArray();
    expect(records.map((record) => [record.chat_id, record.last_error])).toEqual([
      [6011, '502 Bad Gateway'],
      [6012, '500 Internal Server Error'],
    ]);
  });

  it('never gives a record up for a number of failed runs: it keeps trying until its messages pass 48 hours', async () => {
    // Must hold: a Telegram outage longer than any number of runs loses nothing while the
    // messages can still be deleted; only their age against Telegram's 48 hours ends a record.
    const messageIds = await seedDelivery(6101, 1, minutes(-1));
    h.fake.injectFault({ method: 'deleteMessages', status: 500, times: Infinity });
    for (let run = 0; run < 12; run++) {
      expect(await deleteDueMessages(h.deps, h.input(minutes(run)))).toMatchObject({
        records: 0,
        failed: 0,
        deferred: 1,
      });
    }
    expect(await remainingRecords()).toMatchObject([
      { attempts: 12, last_error: '500 Internal Server Error' },
    ]);
    expect(h.fake.messages(6101).map((message) => message.message_id)).toEqual(messageIds);

    // 47 hours after the record was written the messages can still be deleted: still kept.
    expect(await deleteDueMessages(h.deps, h.input(minutes(-30 + 47 * 60)))).toMatchObject({ deferred: 1 });
    // At 48 hours Telegram refuses for good: given up with a warning, not retried forever.
    expect(await deleteDueMessages(h.deps, h.input(minutes(-30 + 48 * 60)))).toMatchObject({
      records: 1,
      failed: 1,
      deferred: 0,
    });
    expect(await remainingRecords()).toEqual([]);
    expect(h.logs.messages()).toContain(
      'giving up on a pending deletion: its messages are past the 48 hours Telegram allows for deleting',
    );
  });

  it('re-sends a notice that failed transiently on the next run, without losing the record', async () => {
    await seedDelivery(6201, 1, minutes(-1));
    h.fake.injectFault({ method: 'sendMessage', status: 500, times: 3 });
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({
      messagesDeleted: 1,
      notices: 0,
      deferred: 1,
    });
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({
      records: 1,
      messagesDeleted: 1,
      notices: 1,
    });
    expect(h.fake.chat(6201).messages).toHaveLength(1);
  });

  it('waits out a 429 as Telegram asks and then succeeds', async () => {
    await seedDelivery(7001, 1, minutes(-1));
    h.fake.injectFault({ method: 'deleteMessages', status: 429, retryAfter: 1 });
    const result = await deleteDueMessages(h.deps, h.input(NOW));
    expect(result).toMatchObject({ records: 1, messagesDeleted: 1, notices: 1 });
    const deletes = h.fake.calls.filter((call) => call.method === 'deleteMessages');
    expect(deletes.map((call) => call.status)).toEqual([429, 200]);
    // On the clock the fake shares with the flood gate, the retry came a second later, no sooner.
    expect(deletes[1]!.time - deletes[0]!.time).toBeGreaterThanOrEqual(1_000);
    expect(h.gateWaits()).toHaveLength(1);
  });

  it('deletes everything one by one on a server without deleteMessages, and remembers that', async () => {
    h.fake.disableMethod('deleteMessages');
    await seedDelivery(8001, 3, minutes(-1));
    await seedDelivery(8002, 2, minutes(-1));
    await seedDelivery(8003, 2, minutes(-1));

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(result).toMatchObject({ records: 3, messagesDeleted: 7, notices: 3, failed: 0 });
    for (const chatId of [8001, 8002, 8003]) expect(h.fake.chat(chatId).deleted.length).toBeGreaterThan(0);
    expect(h.fake.callCount('deleteMessage')).toBe(7);
    // Chats run concurrently, so a few may try the batch method before the first answer comes back.
    expect(h.fake.callCount('deleteMessages')).toBeLessThanOrEqual(3);
    expect(h.deps.engine.usesBatchDeletes).toBe(false);

    await seedDelivery(8004, 2, minutes(-1));
    const before = h.fake.callCount('deleteMessages');
    await deleteDueMessages(h.deps, h.input(NOW));
    expect(h.fake.callCount('deleteMessages')).toBe(before);
    expect(h.fake.chat(8004).deleted).toHaveLength(2);
  });

  it('stops between batches when aborted, leaving exactly the unprocessed records for the next run', async () => {
    for (let i = 0; i < 8; i++) await seedDelivery(9000 + i, 1, minutes(-10 + i));
    const controller = new AbortController();
    let batches = 0;
    const botUsername = h.deps.botUsername;
    // The job asks for the bot's username once per batch: abort while the second batch starts.
    h.deps.botUsername = async () => {
      if (++batches === 2) controller.abort(new Error('stopping'));
      return botUsername();
    };

    const partial = await deleteDueMessages(h.deps, h.input(NOW, { signal: controller.signal }));

    expect(partial).toMatchObject({ records: 3, notices: 3 });
    const left = await remainingRecords();
    expect(left.map((record) => record.chat_id).sort()).toEqual([9003, 9004, 9005, 9006, 9007]);
    expect(left.every((record) => record.attempts === undefined)).toBe(true);
    for (const chatId of [9003, 9004, 9005, 9006, 9007]) expect(h.fake.chat(chatId).deleted).toEqual([]);

    h.deps.botUsername = botUsername;
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ records: 5, notices: 5 });
    expect(await remainingRecords()).toEqual([]);
    for (let i = 0; i < 8; i++) expect(h.fake.chat(9000 + i).messages).toHaveLength(1);
  });

  it('does not repeat notices when MongoDB briefly fails to remove a batch whose notices went out', async () => {
    // Must hold: a batch's notices are sent, then its deleteMany fails (MongoDB restarting, a
    // failover): the removal is retried until it lands, so neither a retry of the attempt nor a
    // later run (here or on another instance) sends those notices again. Found by the chaos test.
    for (let i = 0; i < 3; i++) await seedDelivery(9201 + i, 1, minutes(-1), `brief-outage-${i}`);
    const failOnce = failingRemovals(2);

    const result = await deleteDueMessages(h.deps, h.input(NOW));

    expect(failOnce.failed()).toBe(2);
    expect(result).toMatchObject({ records: 3, notices: 3 });
    expect(await remainingRecords()).toEqual([]);
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ records: 0, notices: 0 });
    for (let i = 0; i < 3; i++) expect(h.fake.chat(9201 + i).messages).toHaveLength(1);
  });

  it('still records a finished batch when the run is stopped while MongoDB fails', async () => {
    // Must hold: a stop (or an attempt timeout) that comes while the batch's removal is failing
    // does not abandon it at once: the stopping run keeps trying for a short wind-down.
    for (let i = 0; i < 2; i++) await seedDelivery(9301 + i, 1, minutes(-1), `stopped-outage-${i}`);
    const controller = new AbortController();
    const failures = failingRemovals(1, () => controller.abort(new Error('stopping')));

    await deleteDueMessages(h.deps, h.input(NOW, { signal: controller.signal }));

    expect(failures.failed()).toBe(1);
    expect(await remainingRecords()).toEqual([]);
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ notices: 0 });
  });

  /** The next `count` batch removals fail as if MongoDB were unreachable. */
  function failingRemovals(count: number, onFailure?: () => void) {
    const repo = h.deps.repos.pendingDeletions;
    const removeByIds = repo.removeByIds.bind(repo);
    let failed = 0;
    repo.removeByIds = async (ids) => {
      if (failed < count) {
        failed += 1;
        onFailure?.();
        throw new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed');
      }
      return removeByIds(ids);
    };
    return { failed: () => failed };
  }

  it('reports in dry-run mode without touching Telegram or the database', async () => {
    await seedDelivery(9101, 3, minutes(-1));
    await seedDelivery(9102, 1, minutes(-1));
    const result = await deleteDueMessages(h.deps, h.input(NOW, { dryRun: true }));
    expect(result).toEqual({ records: 2, messagesDeleted: 4, notices: 2, failed: 0, deferred: 0 });
    expect(h.fake.calls).toEqual([]);
    expect(await remainingRecords()).toHaveLength(2);
  });
});

describe('message deleter at scale, under the fake server rate limits', () => {
  const db = useTestDatabase();

  it('deletes 10,000 messages in 1,000 chats with zero 429s and far fewer calls than messages', async () => {
    // Telegram-like limits scaled up so the test stays fast: the fake enforces them by answering
    // 429, and the bot's limiter stays just under them.
    const h = await startJobHarness(db(), {
      now: NOW,
      batchSize: 200,
      fake: { rateLimits: { globalPerSecond: 600, perChatPerSecond: 1 } },
      limits: { maxPerSecond: 500, perChatPerSecond: 1 },
    });
    try {
      const records: PendingDeletionDoc[] = [];
      for (let chat = 1; chat <= 1_000; chat++) {
        const chatId = 100_000 + chat;
        h.fake.addChat(chatId, { user: user(chatId) });
        const ids = h.fake.seedMessages(chatId, 10);
        for (const part of [ids.slice(0, 5), ids.slice(5)]) {
          records.push({
            user_id: chatId,
            chat_id: chatId,
            message_ids: part,
            delete_at: minutes(-1),
            content_id: `content${chat}`,
            created_at: NOW,
          });
        }
      }
      await db().collections.pendingDeletions.insertMany(records);

      const result = await deleteDueMessages(h.deps, h.input(NOW));

      expect(result).toEqual({
        records: 2_000,
        messagesDeleted: 10_000,
        notices: 2_000,
        failed: 0,
        deferred: 0,
      });
      expect(h.fake.count429()).toBe(0);
      expect(h.fake.messageCounts()).toMatchObject({ deleted: 10_000 });
      const calls = h.fake.callCount();
      expect(calls).toBeLessThan(10_000 / 3);
      expect(await db().collections.pendingDeletions.countDocuments()).toBe(0);
    } finally {
      await h.close();
    }
  }, 120_000);
});

describe('message deleter: the deletion promise (#10)', () => {
  const db = useTestDatabase();
  let h: JobHarness;

  afterEach(() => h?.close());

  async function seed(chatId: number, deleteAt: Date, createdAt = minutes(-30), count = 2) {
    h.fake.addChat(chatId, { user: user(chatId) });
    const messageIds = h.fake.seedMessages(chatId, count);
    await db().collections.pendingDeletions.insertOne({
      user_id: chatId,
      chat_id: chatId,
      message_ids: messageIds,
      delete_at: deleteAt,
      content_id: `content${chatId}`,
      created_at: createdAt,
    });
    return messageIds;
  }
  const records = () => db().collections.pendingDeletions.find().toArray();

  it('#10.1 an abort while deleteMessages is on the wire or waiting for its turn is not a failure: the record stays as it was, however often it happens', async () => {
    // Must hold: aborts (SIGTERM, attempt timeout, lost claim) never count against a record;
    // more aborts than the old DELETION_MAX_ATTEMPTS still leave it, untouched, for the next run.
    await db().collections.pendingDeletions.deleteMany({});
    // Three calls per second: the second chat's call waits in the limiter when the abort comes.
    h = await startJobHarness(db(), { now: NOW, limits: { maxPerSecond: 3, perChatPerSecond: 1 } });
    await seed(11_001, minutes(-2));
    await seed(11_002, minutes(-1));
    h.fake.setLatency('deleteMessages', 300);
    for (let abort = 0; abort < 6; abort++) {
      const controller = new AbortController();
      const run = deleteDueMessages(h.deps, h.input(NOW, { signal: controller.signal }));
      // Abort while a call is on the wire (the fake has it, not answered yet) and the other is queued.
      await waitFor(() => h.fake.callsInFlight('deleteMessages') > 0, { intervalMs: 1 });
      controller.abort(new Error('SIGTERM'));
      expect(await run).toMatchObject({ records: 0, failed: 0, deferred: 0 });
    }
    const left = await records();
    expect(left).toHaveLength(2);
    for (const record of left) {
      expect(record.attempts).toBeUndefined();
      expect(record.last_error).toBeUndefined();
    }
    h.fake.setLatency('deleteMessages', 0);
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({
      records: 2,
      notices: 2,
      failed: 0,
    });
    expect(h.fake.messages(11_001).map((message) => message.text)).toEqual([expect.stringMatching(/^🗑/)]);
  });

  it('#10.2 a Telegram outage longer than any number of runs drops nothing, and the deletion lag shows it meanwhile', async () => {
    // Must hold: during an outage every due record stays, the lag (oldest overdue) grows run
    // after run, and once Telegram is back everything is deleted with its notice.
    await db().collections.pendingDeletions.deleteMany({});
    h = await startJobHarness(db(), { now: NOW });
    for (let chat = 0; chat < 5; chat++) await seed(12_000 + chat, minutes(-1));
    h.fake.injectFault({ method: 'deleteMessages', status: 502, times: Infinity });
    let lag = 0;
    for (let run = 0; run < 10; run++) {
      const at = minutes(run * 5);
      expect(await deleteDueMessages(h.deps, h.input(at))).toMatchObject({
        records: 0,
        failed: 0,
        deferred: 5,
      });
      const backlog = await readDeletionBacklog(h.deps.repos.pendingDeletions, at);
      expect(backlog.due).toBe(5);
      expect(backlog.oldestOverdueMs).toBeGreaterThan(lag);
      lag = backlog.oldestOverdueMs;
    }
    expect(lag).toBe(46 * 60_000);
    h.fake.clearFaults();
    expect(await deleteDueMessages(h.deps, h.input(minutes(50)))).toMatchObject({
      records: 5,
      messagesDeleted: 10,
      notices: 5,
    });
    expect(await records()).toEqual([]);
  });

  it('#10.3 content given the longest lifetime is deleted inside Telegram’s 48 hours even when the deleter comes as late as its schedule allows', async () => {
    // Must hold: with the deleter every minute, the longest lifetime (48 h less the margin, the
    // run allowance and the period) is still deletable at delete_at + period + run allowance; a
    // record scheduled beyond it (an older release, a hand-made record) is taken before its
    // messages pass 48 hours, not left until Telegram refuses.
    await db().collections.pendingDeletions.deleteMany({});
    const longest = safeLifetimeMs(60_000);
    expect(longest).toBe((47 * 60 + 39) * 60_000);
    h = await startJobHarness(db(), { now: NOW });
    await seed(13_001, new Date(NOW.getTime() + longest), NOW);
    // 48 hours exactly: what `/setdeletetime 48h` used to schedule.
    await seed(13_002, new Date(NOW.getTime() + TELEGRAM_DELETE_WINDOW_MS), NOW);

    const latest = new Date(NOW.getTime() + longest + 60_000 + RUN_ALLOWANCE_MS);
    expect(await deleteDueMessages(h.deps, h.input(latest))).toEqual({
      records: 2,
      messagesDeleted: 4,
      notices: 2,
      failed: 0,
      deferred: 0,
    });
    expect(latest.getTime()).toBeLessThan(NOW.getTime() + TELEGRAM_DELETE_WINDOW_MS - DELETION_MARGIN_MS + 1);
    for (const chatId of [13_001, 13_002]) {
      expect(h.fake.chat(chatId).deleted).toHaveLength(2);
      expect(h.fake.messages(chatId).map((message) => message.text)).toEqual([expect.stringMatching(/^🗑/)]);
    }
  });

  it('#10.3 records nearest to the 48-hour limit go first, before a backlog of due records', async () => {
    // Must hold: after an outage, the record whose messages become undeletable soonest is
    // handled in the run's first batch, whatever its delete_at.
    await db().collections.pendingDeletions.deleteMany({});
    h = await startJobHarness(db(), { now: NOW, batchSize: 2 });
    for (let chat = 0; chat < 6; chat++) await seed(14_000 + chat, minutes(-60 + chat), minutes(-90));
    const atRisk = new Date(NOW.getTime() - 47 * 3_600_000 - 45 * 60_000);
    await seed(14_100, minutes(-5), atRisk);
    const controller = new AbortController();
    const repo = h.deps.repos.pendingDeletions;
    const removeByIds = repo.removeByIds.bind(repo);
    // Stop once the first batch is written.
    repo.removeByIds = async (ids) => {
      controller.abort(new Error('stop after one batch'));
      return removeByIds(ids);
    };
    await deleteDueMessages(h.deps, h.input(NOW, { signal: controller.signal }));
    repo.removeByIds = removeByIds;
    expect(await records()).toHaveLength(6);
    const left = (await records()).map((record) => record.chat_id);
    expect(left).not.toContain(14_100);
    expect(h.fake.chat(14_100).deleted).toHaveLength(2);
  });

  it('#10.11 a delivery cut short before its first message leaves an empty record that is dropped without a notice', async () => {
    await db().collections.pendingDeletions.deleteMany({});
    h = await startJobHarness(db(), { now: NOW });
    h.fake.addChat(15_001, { user: user(15_001) });
    await db().collections.pendingDeletions.insertOne({
      user_id: 15_001,
      chat_id: 15_001,
      message_ids: [],
      delete_at: minutes(-1),
      content_id: 'cutshort',
      created_at: minutes(-31),
    });
    expect(await deleteDueMessages(h.deps, h.input(NOW))).toMatchObject({ records: 1, notices: 0 });
    expect(h.fake.callCount()).toBe(0);
    expect(await records()).toEqual([]);
  });
});
