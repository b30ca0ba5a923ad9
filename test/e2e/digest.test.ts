import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDay } from '../../bot/digest/digest.js';
import { localDate } from '../../db/calendar.js';
import type { DailyStatsDoc } from '../../db/collections.js';
import { addDays } from '../../db/repositories/stats.js';
import { startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

const MINUTE = 60_000;
const TIMEZONE = 'Europe/Berlin';
const ADMIN = { id: 9200, first_name: 'Root' };
const OTHER_ADMIN = { id: 9201, first_name: 'Second' };

/** Width and height from the PNG's IHDR chunk, after checking the signature. */
function pngFacts(bytes: Buffer): { signature: boolean; width: number; height: number } {
  return {
    signature: bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    width: bytes.readUInt32BE(16),
    height: bytes.readUInt32BE(20),
  };
}

/**
 * A history of 45 days before today with round figures: every day before yesterday has 20 new
 * users, 50 links issued and 35 verified, 3 deletions failed and 100 + n messages deleted (n days
 * back), except the day before yesterday with 13 new users; yesterday differs in every field.
 */
function seededHistory(today: string): DailyStatsDoc[] {
  const docs: DailyStatsDoc[] = [];
  const expire_at = new Date(Date.now() + 400 * 86_400_000);
  for (let back = 2; back <= 45; back++) {
    docs.push({
      _id: addDays(today, -back),
      users_new: back === 2 ? 13 : 20,
      users_blocked: 1,
      links_issued: 50,
      links_verified: 35,
      messages_deleted: 100 + back,
      deletions_failed: 3,
      notices: 10,
      runs: { succeeded: 1440 },
      expire_at,
    });
  }
  docs.push({
    _id: addDays(today, -1),
    users_new: 25,
    users_blocked: 4,
    links_issued: 40,
    links_verified: 30,
    bypasses: 2,
    deliveries: 31,
    messages_deleted: 120,
    deletions_failed: 0,
    notices: 12,
    broadcast_delivered: 500,
    runs: { succeeded: 1440, failed: 2, abandoned: 1 },
    expire_at,
  });
  // Today is not over: the digest never shows it.
  docs.push({ _id: today, users_new: 999, links_issued: 999, expire_at });
  return docs;
}

describe('end to end: /digest', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let admin: TestUser;
  let other: TestUser;
  let today: string;

  beforeAll(async () => {
    t = await startTestApp(db(), fake, {
      ADMIN_IDS: `${ADMIN.id},${OTHER_ADMIN.id}`,
      SCHEDULER_TIMEZONE: TIMEZONE,
    });
    admin = new TestUser(fake, ADMIN);
    other = new TestUser(fake, OTHER_ADMIN);
    await admin.say('/start');
    await other.say('/start');
    today = localDate(t.now(), TIMEZONE);
    await db().collections.dailyStats.deleteMany({});
    await db().collections.dailyStats.insertMany(seededHistory(today));
    // The oldest overdue deletion is five minutes late: that is the deletion lag.
    await db().collections.pendingDeletions.insertOne({
      user_id: 1,
      chat_id: 1,
      message_ids: [],
      delete_at: new Date(t.now().getTime() - 5 * MINUTE),
      content_id: 'c1',
      created_at: new Date(t.now().getTime() - 35 * MINUTE),
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('sends the asking admin a 1200x800 PNG with the figures of yesterday in the caption', async () => {
    const messages = await admin.say('/digest');
    expect(messages).toHaveLength(1);
    const [photo] = messages;
    const fileId = photo?.photo?.at(-1)?.file_id ?? '';
    const bytes = fake.uploadedFile(fileId);
    expect(bytes).toBeDefined();
    expect(pngFacts(bytes!)).toEqual({ signature: true, width: 1200, height: 800 });

    const caption = photo?.caption ?? '';
    expect(caption.length).toBeLessThanOrEqual(1024);
    const lines = caption.split('\n');
    expect(lines[0]).toBe(`📊 ${formatDay(addDays(today, -1))} (${TIMEZONE})`);
    // Yesterday (vs the day before; vs the average of the 7 days before yesterday).
    expect(lines).toContain('New users: 25 (+12; +6 vs 19)'); // (13 + 6 × 20) / 7 = 19
    expect(lines).toContain('Blocked the bot: 4 (+3; +3 vs 1)');
    expect(lines).toContain('Links issued: 40 (−10; −10 vs 50)');
    expect(lines).toContain('Links verified: 30 (−5; −5 vs 35)');
    expect(lines).toContain('Messages deleted: 120 (+18; +15 vs 105)'); // 102…108
    expect(lines).toContain('Deletions failed: 0 (−3; −3 vs 3)');
    expect(lines).toContain('Broadcast copies: 500 (+500; +500 vs 0)');
    expect(lines).toContain('Conversion issued→verified: 75.0% (7-day 70.0%)');
    expect(lines).toContain('Scheduler: 2 failed runs yesterday (1440 ok, 1 abandoned); deletion lag 5 min');
    expect(lines.at(-1)).toBe('Chart: the last 30 days.');
    // Today's partial figures are nowhere.
    expect(caption).not.toContain('999');
    // Only the asking admin got it.
    expect(other.visibleMessages().filter((message) => message.photo)).toHaveLength(0);
  });

  it('/digest 7 charts seven days: a different picture of the same size', async () => {
    const month = fake.lastBotMessage(ADMIN.id)?.photo?.at(-1)?.file_id ?? '';
    const [week] = await admin.say('/digest 7');
    expect(week?.caption?.split('\n').at(-1)).toBe('Chart: the last 7 days.');
    const bytes = fake.uploadedFile(week?.photo?.at(-1)?.file_id ?? '')!;
    expect(pngFacts(bytes)).toEqual({ signature: true, width: 1200, height: 800 });
    expect(bytes.equals(fake.uploadedFile(month)!)).toBe(false);
  });

  it.each(['0', '6', '91', 'abc', '30 5', '-7', '7.5'])(
    '/digest %s is refused with the allowed range and changes nothing',
    async (input) => {
      const before = await db().collections.dailyStats.find({}).sort({ _id: 1 }).toArray();
      const photosBefore = fake.calls.filter((call) => call.method === 'sendPhoto').length;
      const messages = await admin.say(`/digest ${input}`);
      expect(messages).toHaveLength(1);
      expect(messages[0]?.photo).toBeUndefined();
      expect(messages[0]?.text).toMatch(/is not a number of days from 7 to 90\.\nUsage: \/digest \[days\]/);
      expect(fake.calls.filter((call) => call.method === 'sendPhoto').length).toBe(photosBefore);
      expect(await db().collections.dailyStats.find({}).sort({ _id: 1 }).toArray()).toEqual(before);
    },
  );

  it('is refused to non-admins', async () => {
    const stranger = new TestUser(fake, { id: 9300, first_name: 'Eve' });
    await stranger.say('/start');
    const [answer] = await stranger.say('/digest');
    expect(answer?.text).toBe('Sorry, that command is for admins only.');
  });
});
