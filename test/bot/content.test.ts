import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentService } from '../../bot/services/content.js';
import type { ContentDoc } from '../../db/collections.js';
import { ContentsRepository } from '../../db/repositories/contents.js';
import { PendingDeletionsRepository } from '../../db/repositories/pending-deletions.js';
import { type JobHarness, startJobHarness } from '../support/job-harness.js';
import { useTestDatabase } from '../support/test-db.js';

const ADMIN = 70;
const USER = 71;

describe('content delivery: no copy without its deletion (#10.11)', () => {
  const db = useTestDatabase();
  let h: JobHarness;
  let content: ContentDoc;

  beforeEach(async () => {
    await db().collections.pendingDeletions.deleteMany({});
    h = await startJobHarness(db(), { now: new Date() });
    h.fake.addChat(ADMIN, { user: { id: ADMIN, first_name: 'Admin' } });
    h.fake.addChat(USER, { user: { id: USER, first_name: 'User' } });
    const [messageId] = h.fake.seedMessages(ADMIN, ['Secret'], { from: { id: ADMIN, first_name: 'Admin' } });
    content = {
      _id: 'content0001',
      source_chat_id: ADMIN,
      source_message_id: messageId!,
      created_by: ADMIN,
      created_at: h.now(),
    };
  });
  afterEach(() => h.close());

  const deliver = (service: ContentService) =>
    service.deliver({
      api: h.deps.api,
      content,
      userId: USER,
      chatId: USER,
      now: h.now(),
      deleteAfterMinutes: 30,
      timezone: 'UTC',
    });

  it('writes the record before the first message and adds each id as the message exists', async () => {
    const repo = new PendingDeletionsRepository(db().collections.pendingDeletions);
    const seen: number[][] = [];
    const schedule = repo.schedule.bind(repo);
    repo.schedule = async (doc) => {
      // Nothing is in the user's chat yet when the record is written.
      expect(h.fake.messages(USER)).toEqual([]);
      seen.push(doc.message_ids);
      return schedule(doc);
    };
    const { messageIds } = await deliver(
      new ContentService(new ContentsRepository(db().collections.contents), repo, { protectContent: true }),
    );
    expect(seen).toEqual([[]]);
    expect(await db().collections.pendingDeletions.findOne({ user_id: USER })).toMatchObject({
      message_ids: messageIds,
    });
    expect(h.fake.messages(USER).map((message) => message.message_id)).toEqual(messageIds);
  });

  it('takes a copy back at once when its id cannot be recorded, so nothing is left that nobody would delete', async () => {
    const repo = new PendingDeletionsRepository(db().collections.pendingDeletions);
    repo.addMessages = async () => {
      throw new Error('database unavailable');
    };
    await expect(
      deliver(
        new ContentService(new ContentsRepository(db().collections.contents), repo, {
          protectContent: true,
          trackPatienceMs: 300,
        }),
      ),
    ).rejects.toThrow('database unavailable');
    // The copy was sent and deleted again; the note was never sent.
    expect(h.fake.messages(USER)).toEqual([]);
    expect(h.fake.chat(USER).deleted.map((entry) => entry.message.text)).toEqual(['Secret']);
  });
});
