import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLICK_HERE } from '../../bot/notices.js';
import { linksIn, startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

const MINUTE = 60_000;
const ADMIN = { id: 9001, first_name: 'Ada', username: 'ada_admin' };

describe('end to end: a user gets self-deleting content through verification', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id), DAILY_TOKEN_LIMIT: '2' });
    admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
  });
  afterAll(async () => {
    await t.stop();
  });

  async function saveContent(text: string): Promise<string> {
    const [original] = await admin.say(text);
    expect(original).toBeUndefined(); // the bot does not answer plain messages
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    const [answer] = await admin.say('/save', { replyTo: source.message_id });
    const [link] = linksIn(answer?.text);
    expect(link).toMatch(/^https:\/\/t\.me\/test_maint_bot\?start=c_[A-Za-z0-9_-]+$/);
    return link!;
  }

  it('registers, verifies, delivers, deletes with a notice, and delivers again from the notice', async () => {
    const alice = new TestUser(fake, { id: 501, first_name: 'Alice' });
    const [greeting] = await alice.say('/start');
    expect(greeting?.text).toMatch(/^Hello, Alice!/);
    expect(await db().collections.users.findOne({ user_id: 501 })).toMatchObject({
      chat_id: 501,
      blocked_at: null,
    });

    const link = await saveContent('The secret recipe');

    // No access yet: a verification link instead of the content.
    const [gate] = await alice.open(link);
    expect(gate?.text).toMatch(/verify first/);
    const [verifyLink] = linksIn(gate?.text);
    expect(verifyLink).toMatch(/start=v_/);
    expect(await db().collections.tokens.findOne({ user_id: 501 })).toMatchObject({ status: 'unused' });
    expect(alice.visibleMessages().some((message) => message.text === 'The secret recipe')).toBe(false);

    // Verifying grants access and delivers what was asked for.
    const afterVerify = await alice.open(verifyLink!);
    expect(afterVerify.map((message) => message.text)).toEqual([
      expect.stringMatching(/^✅ Verified/),
      'The secret recipe',
      expect.stringMatching(/^⏳ This will be deleted in 30 minutes/),
    ]);
    expect(await db().collections.tokens.findOne({ user_id: 501 })).toMatchObject({ status: 'verified' });
    const record = await db().collections.pendingDeletions.findOne({ user_id: 501 });
    expect(record?.message_ids).toEqual([afterVerify[1]!.message_id, afterVerify[2]!.message_id]);
    expect(record?.delete_at).toEqual(new Date(t.now().getTime() + 30 * MINUTE));

    // Not yet due: the deleter leaves it alone.
    await t.app.runtime.runNow('message-deleter');
    expect(alice.visibleMessages().some((message) => message.text === 'The secret recipe')).toBe(true);

    t.advance(31 * MINUTE);
    const outcome = await t.app.runtime.runNow('message-deleter');
    expect(outcome).toMatchObject({
      status: 'succeeded',
      result: { records: 1, messagesDeleted: 2, notices: 1 },
    });
    expect(alice.visibleMessages().some((message) => message.text === 'The secret recipe')).toBe(false);
    const notice = fake.lastBotMessage(501)!;
    const button = notice.reply_markup?.inline_keyboard[0]?.[0] as { text: string; url: string };
    expect(button.text).toBe(CLICK_HERE);

    // "Click Here" opens the same content again (access is still valid) and schedules it again.
    const again = await alice.open(button.url);
    expect(again.map((message) => message.text)).toEqual([
      'The secret recipe',
      expect.stringMatching(/^⏳ This will be deleted in 30 minutes/),
    ]);
    expect(await db().collections.pendingDeletions.countDocuments({ user_id: 501 })).toBe(1);
  });

  it('refuses someone else’s token, an expired token and a made-up token', async () => {
    const link = await saveContent('Members only');
    const bob = new TestUser(fake, { id: 601, first_name: 'Bob' });
    const carol = new TestUser(fake, { id: 602, first_name: 'Carol' });
    await bob.say('/start');
    await carol.say('/start');
    const [gate] = await bob.open(link);
    const [bobsLink] = linksIn(gate?.text);

    const [stolen] = await carol.open(bobsLink!);
    expect(stolen?.text).toMatch(/made for someone else/);
    const [madeUp] = await carol.say('/start v_AAAAAAAAAAAAAAAAAAAAAA');
    expect(madeUp?.text).toMatch(/not valid/);
    expect(await t.app.deps.access.currentAccess(602, t.now())).toBeNull();
    expect(await db().collections.tokens.findOne({ user_id: 601 })).toMatchObject({ status: 'unused' });

    t.advance(3 * 24 * 60 * MINUTE);
    const [expired] = await bob.open(bobsLink!);
    expect(expired?.text).toMatch(/expired/);
    expect(await t.app.deps.access.currentAccess(601, t.now())).toBeNull();
  });

  it('stops at the daily token limit with a clear message, and allows more after the counter reset', async () => {
    const link = await saveContent('Daily digest');
    const dan = new TestUser(fake, { id: 701, first_name: 'Dan' });
    await dan.say('/start');
    await dan.open(link);
    await dan.open(link);
    const [refusal] = await dan.open(link);
    expect(refusal?.text).toMatch(/used all 2 verification links for today.*resets at midnight \(UTC\)/);
    expect(await db().collections.tokens.countDocuments({ user_id: 701 })).toBe(2);
    expect(await db().collections.tokenCounts.findOne({ user_id: 701 })).toMatchObject({ count: 2 });

    // The next day, after the counter reset, a new link is issued.
    t.advance(24 * 60 * MINUTE);
    expect(await t.app.runtime.runNow('token-count-reset')).toMatchObject({ status: 'succeeded' });
    expect(await db().collections.tokenCounts.countDocuments({ user_id: 701 })).toBe(0);
    const [gate] = await dan.open(link);
    expect(gate?.text).toMatch(/verify first/);
    expect(await db().collections.tokens.countDocuments({ user_id: 701 })).toBe(3);
  });

  it('marks users who block the bot and clears it when they come back', async () => {
    const eve = new TestUser(fake, { id: 801, first_name: 'Eve' });
    await eve.say('/start');
    fake.blockBot(801);
    await waitForUser(801, (user) => user?.blocked_at instanceof Date);
    fake.unblockBot(801);
    await waitForUser(801, (user) => user?.blocked_at === null);
  });

  async function waitForUser(
    userId: number,
    predicate: (user: { blocked_at: Date | null } | null) => boolean,
  ) {
    const { waitFor } = await import('../support/wait.js');
    await waitFor(async () => predicate(await db().collections.users.findOne({ user_id: userId })), {
      message: `user ${userId} state`,
    });
  }
});
