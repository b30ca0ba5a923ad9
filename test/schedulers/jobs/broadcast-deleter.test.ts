import type { ObjectId } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BroadcastDoc } from '../../../db/collections.js';
import { deleteExpiredBroadcasts } from '../../../schedulers/jobs/index.js';
import { type JobHarness, startJobHarness } from '../../support/job-harness.js';
import { useTestDatabase } from '../../support/test-db.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const hours = (n: number) => new Date(NOW.getTime() + n * 3_600_000);

describe('broadcast deleter', () => {
  const db = useTestDatabase();
  let h: JobHarness;

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    h = await startJobHarness(db(), { batchSize: 4, now: NOW });
  });
  afterEach(() => h.close());

  /** A broadcast delivered to `chatIds`, one copy each, expiring at `deleteAt`. */
  async function seedBroadcast(chatIds: number[], deleteAt: Date, status: BroadcastDoc['status'] = 'sent') {
    const id = await h.deps.repos.broadcasts.create({
      delete_at: deleteAt,
      created_at: hours(-5),
      created_by: 1,
      source_chat_id: 1,
      source_message_id: 1,
      status,
      counts: { total: chatIds.length, delivered: chatIds.length, blocked: 0, failed: 0 },
    });
    const copies = chatIds.map((chatId) => {
      h.fake.addChat(chatId, { user: { id: chatId, first_name: `U${chatId}` } });
      const [messageId] = h.fake.seedMessages(chatId, 1);
      return { chat_id: chatId, message_id: messageId!, sent_at: hours(-5) };
    });
    await h.deps.repos.broadcasts.recordDeliveries(id, copies);
    return id;
  }

  const copiesLeft = (id: ObjectId) =>
    db().collections.broadcastMessages.countDocuments({ broadcast_id: id });

  it('deletes an expired broadcast from every recipient chat, then its records', async () => {
    const recipients = Array.from({ length: 10 }, (_, i) => 500 + i);
    const expired = await seedBroadcast(recipients, hours(-1));
    const dueNow = await seedBroadcast([600], NOW);
    const active = await seedBroadcast([700, 701], hours(2));

    const result = await deleteExpiredBroadcasts(h.deps, h.input(NOW));

    expect(result).toEqual({ broadcasts: 2, messagesDeleted: 11, failed: 0, deferred: 0 });
    for (const chatId of [...recipients, 600]) {
      expect(h.fake.chat(chatId).messages).toEqual([]);
      expect(h.fake.chat(chatId).deleted).toHaveLength(1);
    }
    expect(h.fake.chat(700).messages).toHaveLength(1);
    expect(await db().collections.broadcasts.find().toArray()).toEqual([
      expect.objectContaining({ _id: active }),
    ]);
    expect(await copiesLeft(expired)).toBe(0);
    expect(await copiesLeft(dueNow)).toBe(0);
    expect(await copiesLeft(active)).toBe(2);
  });

  it('deletes copies in chats whose user blocked the bot (Telegram allows it), and marks deactivated users', async () => {
    // Must hold: a block does not keep a broadcast copy visible; a deactivated account (403 for
    // every call) ends its copy and marks the user unreachable.
    await db().collections.users.insertMany(
      [801, 802].map((id) => ({
        user_id: id,
        chat_id: id,
        first_name: 'B',
        last_name: null,
        username: null,
        joined_at: hours(-10),
        last_seen_at: hours(-10),
        blocked_at: null,
      })),
    );
    const id = await seedBroadcast([800, 801, 802], hours(-1));
    h.fake.blockBot(801);
    h.fake.deactivateUser(802);

    const result = await deleteExpiredBroadcasts(h.deps, h.input(NOW));

    expect(result).toEqual({ broadcasts: 1, messagesDeleted: 2, failed: 1, deferred: 0 });
    expect(h.fake.messages(801)).toEqual([]);
    expect((await db().collections.users.findOne({ user_id: 801 }))?.blocked_at).toBeNull();
    expect((await db().collections.users.findOne({ user_id: 802 }))?.blocked_at).toEqual(NOW);
    expect(await db().collections.broadcasts.findOne({ _id: id })).toBeNull();
    // The user newly found unreachable counts in the day's statistics (UTC here).
    expect(await db().collections.dailyStats.findOne({ _id: '2026-03-10' })).toMatchObject({
      users_blocked: 1,
    });
    // A second run finds nobody new.
    await deleteExpiredBroadcasts(h.deps, h.input(NOW));
    expect((await db().collections.dailyStats.findOne({ _id: '2026-03-10' }))?.users_blocked).toBe(1);
  });

  it('counts a copy too old to delete as failed and does not retry it', async () => {
    h.fake.addChat(900, { user: { id: 900, first_name: 'Old' } });
    const [old] = h.fake.seedMessages(900, 1, { date: Math.floor(NOW.getTime() / 1000) - 50 * 3600 });
    const id = await h.deps.repos.broadcasts.create({
      delete_at: hours(-1),
      created_at: hours(-60),
      created_by: 1,
      source_chat_id: 1,
      source_message_id: 1,
      status: 'sent',
      counts: { total: 1, delivered: 1, blocked: 0, failed: 0 },
    });
    await h.deps.repos.broadcasts.recordDeliveries(id, [
      { chat_id: 900, message_id: old!, sent_at: hours(-50) },
    ]);

    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toEqual({
      broadcasts: 1,
      messagesDeleted: 0,
      failed: 1,
      deferred: 0,
    });
    expect(h.fake.chat(900).messages).toHaveLength(1);
  });

  it('keeps copies that hit transient errors and the broadcast that owns them, until a later run', async () => {
    const id = await seedBroadcast([1000, 1001, 1002], hours(-1));
    h.fake.injectFault({ chatId: 1001, status: 500, times: Infinity });

    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toEqual({
      broadcasts: 0,
      messagesDeleted: 2,
      failed: 0,
      deferred: 1,
    });
    expect(await copiesLeft(id)).toBe(1);
    expect(await db().collections.broadcastMessages.findOne({ broadcast_id: id })).toMatchObject({
      chat_id: 1001,
      attempts: 1,
    });

    h.fake.clearFaults();
    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toEqual({
      broadcasts: 1,
      messagesDeleted: 1,
      failed: 0,
      deferred: 0,
    });
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);
  });

  it('deletes what a still-sending broadcast delivered but keeps the broadcast for its sender', async () => {
    const id = await seedBroadcast([1100, 1101], hours(-1), 'sending');
    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toMatchObject({
      broadcasts: 0,
      messagesDeleted: 2,
    });
    expect(await db().collections.broadcasts.findOne({ _id: id })).toMatchObject({ status: 'sending' });
    await db().collections.broadcasts.updateOne({ _id: id }, { $set: { status: 'interrupted' } });
    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toMatchObject({
      broadcasts: 1,
      messagesDeleted: 0,
    });
  });

  it('stops between batches when aborted and resumes where it stopped', async () => {
    const recipients = Array.from({ length: 10 }, (_, i) => 1200 + i);
    const id = await seedBroadcast(recipients, hours(-1));
    const controller = new AbortController();
    const repo = h.deps.repos.broadcasts;
    const removeCopies = repo.removeCopies.bind(repo);
    // Abort as soon as the first batch of four has been handled and removed.
    repo.removeCopies = async (ids) => {
      const removed = await removeCopies(ids);
      controller.abort(new Error('stopping'));
      return removed;
    };

    const partial = await deleteExpiredBroadcasts(h.deps, h.input(NOW, { signal: controller.signal }));
    expect(partial).toMatchObject({ broadcasts: 0, messagesDeleted: 4 });
    expect(await copiesLeft(id)).toBe(6);

    repo.removeCopies = removeCopies;
    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW))).toMatchObject({
      broadcasts: 1,
      messagesDeleted: 6,
    });
    for (const chatId of recipients) expect(h.fake.chat(chatId).deleted).toHaveLength(1);
  });

  it('reports in dry-run mode without changing anything', async () => {
    await seedBroadcast([1300, 1301, 1302], hours(-1));
    await seedBroadcast([1303], hours(1));
    expect(await deleteExpiredBroadcasts(h.deps, h.input(NOW, { dryRun: true }))).toEqual({
      broadcasts: 1,
      messagesDeleted: 3,
      failed: 0,
      deferred: 0,
    });
    expect(h.fake.calls).toEqual([]);
    expect(await db().collections.broadcastMessages.countDocuments()).toBe(4);
  });
});
