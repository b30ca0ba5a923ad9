import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDate } from '../../db/calendar.js';
import { addDays } from '../../db/repositories/stats.js';
import { linksIn, startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const TIMEZONE = 'Europe/Berlin';
const ADMIN = { id: 9400, first_name: 'Root' };

/** The first instant of the next calendar day in `timeZone` after `now`. */
function nextMidnight(now: Date, timeZone: string): Date {
  const tomorrow = addDays(localDate(now, timeZone), 1);
  const utcMidnight = Date.parse(`${tomorrow}T00:00:00Z`);
  for (let offset = -14 * HOUR; offset <= 14 * HOUR; offset += 15 * MINUTE) {
    const at = new Date(utcMidnight + offset);
    if (localDate(at, timeZone) === tomorrow && localDate(new Date(at.getTime() - 1), timeZone) !== tomorrow)
      return at;
  }
  throw new Error('no midnight found');
}

describe('end to end: daily statistics are counted where things happen, on the day in SCHEDULER_TIMEZONE', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let admin: TestUser;
  let before: string;
  let after: string;

  const day = async (id: string) => db().collections.dailyStats.findOne({ _id: id });

  beforeAll(async () => {
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id), SCHEDULER_TIMEZONE: TIMEZONE });
    await db().collections.dailyStats.deleteMany({});
    // Two minutes before midnight in Berlin (22:58 or 21:58 UTC): the flows below cross it.
    const midnight = nextMidnight(t.now(), TIMEZONE);
    t.advance(midnight.getTime() - 2 * MINUTE - t.now().getTime());
    before = localDate(t.now(), TIMEZONE);
    after = addDays(before, 1);
    admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
  });
  afterAll(async () => {
    await t.stop();
  });

  it('a new user, a link issued before midnight, verified and delivered after it, then deleted', async () => {
    await admin.say('Counted content');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    const [link] = linksIn((await admin.say('/save', { replyTo: source.message_id }))[0]?.text);
    const ana = new TestUser(fake, { id: 5101, first_name: 'Ana' });
    await ana.say('/start');
    // Known users coming back are not new.
    await ana.say('/start');
    const [verify] = linksIn((await ana.open(link!)).map((message) => message.text).join('\n'));

    expect(await day(before)).toMatchObject({ users_new: 2, links_issued: 1 });
    expect(await day(before)).not.toHaveProperty('links_verified');
    // The TTL index drops the day STATS_RETENTION_DAYS (400 by default) after it.
    expect((await day(before))?.expire_at).toEqual(
      new Date(Date.parse(`${before}T00:00:00Z`) + 400 * 24 * HOUR),
    );

    t.advance(3 * MINUTE); // 00:01 in Berlin
    const delivered = await ana.open(verify!);
    expect(delivered.map((message) => message.text)).toContain('Counted content');
    expect(await day(after)).toMatchObject({ links_verified: 1, deliveries: 1 });
    expect(await day(after)).not.toHaveProperty('users_new');

    t.advance(31 * MINUTE);
    expect(await t.app.runtime.runNow('message-deleter')).toMatchObject({
      status: 'succeeded',
      result: { messagesDeleted: 2, notices: 1 },
    });
    expect(await day(after)).toMatchObject({ messages_deleted: 2, notices: 1 });
    expect(await day(after)).not.toHaveProperty('deletions_failed');
    // Runs are counted by status when the runtime reports them.
    await waitFor(async () => (await day(after))?.runs?.succeeded === 1);
    expect(await day(before)).not.toHaveProperty('runs');
  });

  it('a bypass, and a broadcast that finds a blocked user', async () => {
    expect((await admin.say('/bypass 5199 3'))[0]?.text).toMatch(/has access until/);
    const ben = new TestUser(fake, { id: 5102, first_name: 'Ben' });
    const cat = new TestUser(fake, { id: 5103, first_name: 'Cat' });
    await ben.say('/start');
    await cat.say('/start');
    // Cat blocks the bot; Telegram tells the bot (my_chat_member): counted once.
    fake.blockBot(cat.id);
    await waitFor(
      async () => (await db().collections.users.findOne({ user_id: cat.id }))?.blocked_at instanceof Date,
    );
    await waitFor(async () => (await day(after))?.users_blocked === 1);
    // The bot forgets it (say the update was lost): the broadcast finds out, and counts it again.
    await db().collections.users.updateOne({ user_id: cat.id }, { $set: { blocked_at: null } });

    await admin.say('📢 Counted broadcast');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    await admin.say('/broadcast 1h', { replyTo: source.message_id });
    await t.app.broadcaster.whenIdle();
    const reachable = 3; // the admin, Ana, Ben
    expect(await day(after)).toMatchObject({
      users_new: 2,
      bypasses: 1,
      broadcasts: 1,
      broadcast_delivered: reachable,
      broadcast_blocked: 1,
      users_blocked: 2,
    });
    expect(await day(after)).not.toHaveProperty('broadcast_failed');
  });

  it('a failing statistics write never fails the action it counts', async () => {
    const stats = t.app.deps.repos.stats;
    const original = stats.increment.bind(stats);
    stats.increment = async () => {
      throw new Error('daily_stats unavailable');
    };
    try {
      const dan = new TestUser(fake, { id: 5104, first_name: 'Dan' });
      const [greeting] = await dan.say('/start');
      expect(greeting?.text).toMatch(/^Hello, Dan!/);
      expect(await db().collections.users.findOne({ user_id: dan.id })).not.toBeNull();
      expect(
        t.logs.records().find((record) => record.msg === 'could not count daily statistics; going on'),
      ).toMatchObject({
        level: 'warn',
        err: expect.objectContaining({ message: 'daily_stats unavailable' }),
      });
    } finally {
      stats.increment = original;
    }
    expect((await day(after))?.users_new).toBe(2);
  });
});
