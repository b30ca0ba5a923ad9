import type { ObjectId } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PendingDeletionDoc } from '../../../db/collections.js';
import { deleteDueMessages, deleteExpiredBroadcasts } from '../../../schedulers/jobs/index.js';
import { type JobHarness, startJobHarness } from '../../support/job-harness.js';
import { useOwnMongo } from '../../support/use-own-mongo.js';

/*
 * Issue #13 item 3: a deleter run whose batches take longer than the server's idle cursor timeout
 * must still finish every record. The deleters read page by page from a bookmark and keep no
 * cursor open while a page is worked on, so a getMore can never meet a reaped cursor. Here the
 * private emulator closes cursors (and, on a replica set, sessions with their cursors) idle for
 * 150 ms, and every deleteMessages call takes 400 ms.
 */

const NOW = new Date('2026-03-10T12:00:00Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);
const IDLE_TIMEOUT_MS = 150;
const SLOW_CALL_MS = 400;

describe('deleters outlast the idle cursor timeout', () => {
  const mongo = useOwnMongo('deleters_idle_cursor', {
    cursorTimeoutMs: IDLE_TIMEOUT_MS,
    sessionTimeoutMs: IDLE_TIMEOUT_MS,
  });
  let h: JobHarness;

  beforeEach(async () => {
    h = await startJobHarness({ collections: mongo.collections, db: mongo.db }, { batchSize: 3, now: NOW });
    h.fake.setLatency('deleteMessages', SLOW_CALL_MS);
    h.fake.setLatency('deleteMessage', SLOW_CALL_MS);
  });
  afterEach(() => h.close());

  it('the message deleter completes every record across slow batches, with no CursorNotFound', async () => {
    const chats = Array.from({ length: 10 }, (_, i) => 2_000 + i);
    for (const [i, chatId] of chats.entries()) {
      h.fake.addChat(chatId, { user: { id: chatId, first_name: `U${chatId}` } });
      const record: PendingDeletionDoc = {
        user_id: chatId,
        chat_id: chatId,
        message_ids: h.fake.seedMessages(chatId, 2),
        delete_at: minutes(-10 + i),
        content_id: `content-${chatId}`,
        created_at: minutes(-30),
      };
      await mongo.collections.pendingDeletions.insertOne(record);
    }

    const started = Date.now();
    const result = await deleteDueMessages(h.deps, h.input(NOW));
    // Four pages of three, each far longer than the idle timeout.
    expect(Date.now() - started).toBeGreaterThan(4 * SLOW_CALL_MS);

    expect(result).toEqual({ records: 10, messagesDeleted: 20, notices: 10, failed: 0, deferred: 0 });
    expect(await mongo.collections.pendingDeletions.countDocuments()).toBe(0);
    for (const chatId of chats) expect(h.fake.chat(chatId).deleted).toHaveLength(2);
    expect(
      h.logs.records().filter((entry) => /CursorNotFound|cursor id/i.test(JSON.stringify(entry))),
    ).toEqual([]);
  });

  it('the broadcast deleter completes every copy across slow batches, with no CursorNotFound', async () => {
    const chats = Array.from({ length: 10 }, (_, i) => 3_000 + i);
    const id: ObjectId = await h.deps.repos.broadcasts.create({
      delete_at: minutes(-5),
      created_at: minutes(-300),
      created_by: 1,
      source_chat_id: 1,
      source_message_id: 1,
      status: 'sent',
      counts: { total: chats.length, delivered: chats.length, blocked: 0, failed: 0 },
    });
    const copies = chats.map((chatId) => {
      h.fake.addChat(chatId, { user: { id: chatId, first_name: `U${chatId}` } });
      const [messageId] = h.fake.seedMessages(chatId, 1);
      return { chat_id: chatId, message_id: messageId as number, sent_at: minutes(-300) };
    });
    await h.deps.repos.broadcasts.recordDeliveries(id, copies);

    const result = await deleteExpiredBroadcasts(h.deps, h.input(NOW));

    expect(result).toEqual({ broadcasts: 1, messagesDeleted: 10, failed: 0, deferred: 0 });
    expect(await mongo.collections.broadcastMessages.countDocuments({ broadcast_id: id })).toBe(0);
    expect(await mongo.collections.broadcasts.countDocuments()).toBe(0);
    for (const chatId of chats) expect(h.fake.chat(chatId).deleted).toHaveLength(1);
  });
});
