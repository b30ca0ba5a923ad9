import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCommands } from '../../bot/features/admin/index.js';
import { formatMinutes, safeMaximumNote } from '../../bot/validation.js';
import { linksIn, startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const MINUTE = 60_000;
const ADMIN = { id: 9100, first_name: 'Root' };

describe('end to end: admin commands', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id) });
    admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
  });
  afterAll(async () => {
    await t.stop();
  });

  const reply = async (text: string, options: { replyTo?: number } = {}) =>
    (await admin.say(text, options)).map((message) => message.text).join('\n');

  it('registers the user menu and the admin menu in the admin chat', () => {
    expect(fake.commands().map((command) => command.command)).toEqual(['start', 'help']);
  });

  it('sets and shows the deletion time, which then applies to deliveries', async () => {
    const limit = safeMaximumNote(t.app.deps.deleteTime.maxMinutes);
    expect(await reply('/deletetime')).toBe(`Content is deleted 30 minutes after it is delivered.\n${limit}`);
    expect(await reply('/setdeletetime 1h30m')).toBe(
      'Done: content will be deleted 1 hour 30 minutes after it is delivered.',
    );
    expect(await db().collections.settings.findOne({ _id: 'delete_after_minutes' })).toMatchObject({
      value: 90,
      updated_by: ADMIN.id,
    });
    expect(await reply('/deletetime')).toBe(
      `Content is deleted 1 hour 30 minutes after it is delivered.\n${limit}`,
    );
  });

  it('bypass grants access without verification', async () => {
    await admin.say('Bypass content');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    const [link] = linksIn(await reply('/save', { replyTo: source.message_id }));
    expect(await reply('/bypass 4242 7')).toMatch(/^User 4242 has access until .* \(bypass\)\.$/);
    expect(await db().collections.tokens.findOne({ user_id: 4242 })).toMatchObject({
      status: 'bypassed',
      granted_by: ADMIN.id,
      expires_at: new Date(t.now().getTime() + 7 * 24 * 60 * MINUTE),
    });
    const frank = new TestUser(fake, { id: 4242, first_name: 'Frank' });
    await frank.say('/start');
    const delivered = await frank.open(link!);
    expect(delivered.map((message) => message.text)).toEqual([
      'Bypass content',
      expect.stringMatching(/deleted in 1 hour 30 minutes/),
    ]);
  });

  it('broadcasts to every reachable user in the background, counts the blocked one, and the deleter removes it later', async () => {
    const users = [3001, 3002, 3003].map((id) => new TestUser(fake, { id, first_name: `R${id}` }));
    for (const user of users) await user.say('/start');
    const blocked = new TestUser(fake, { id: 3004, first_name: 'Gone' });
    await blocked.say('/start');
    // Blocked on Telegram's side without the bot knowing yet: the broadcast finds out.
    fake.blockBot(3004);
    await waitFor(
      async () => (await db().collections.users.findOne({ user_id: 3004 }))?.blocked_at instanceof Date,
    );
    await db().collections.users.updateOne({ user_id: 3004 }, { $set: { blocked_at: null } });

    await admin.say('📢 Maintenance tonight');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    const started = await reply('/broadcast 2h', { replyTo: source.message_id });
    expect(started).toMatch(/Sending to \d+ users in the background/);
    await t.app.broadcaster.whenIdle();

    const activeBefore = await db().collections.users.countDocuments({ blocked_at: null });
    for (const user of users) {
      expect(user.visibleMessages().some((message) => message.text === '📢 Maintenance tonight')).toBe(true);
    }
    const broadcast = await db().collections.broadcasts.findOne({});
    expect(broadcast).toMatchObject({ status: 'sent', counts: { blocked: 1, failed: 0 } });
    expect(broadcast?.counts.delivered).toBe(activeBefore);
    expect(await db().collections.broadcastMessages.countDocuments({ broadcast_id: broadcast?._id })).toBe(
      activeBefore,
    );
    expect((await db().collections.users.findOne({ user_id: 3004 }))?.blocked_at).toBeInstanceOf(Date);
    expect(fake.lastBotMessage(ADMIN.id)?.text).toMatch(
      /Broadcast finished\.\nDelivered \d+, blocked 1, failed 0/,
    );

    // Not expired yet: nothing is deleted.
    expect(await t.app.runtime.runNow('broadcast-deleter')).toMatchObject({ result: { broadcasts: 0 } });
    t.advance(2 * 60 * MINUTE + MINUTE);
    expect(await t.app.runtime.runNow('broadcast-deleter')).toMatchObject({
      status: 'succeeded',
      result: { broadcasts: 1, messagesDeleted: activeBefore, failed: 0 },
    });
    for (const user of users) {
      expect(user.visibleMessages().some((message) => message.text === '📢 Maintenance tonight')).toBe(false);
    }
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);
  });

  it('/tasks shows the jobs with buttons that pause, resume and run them', async () => {
    const [tasks] = await admin.say('/tasks');
    expect(tasks?.text).toMatch(/token-cleanup: at 00:00, on day 29/);
    expect(tasks?.text).toMatch(/state: idle/);
    await admin.press(tasks!.message_id, 'task:pause:token-cleanup');
    expect(
      await db()
        .collections.settings.db.collection('scheduler_jobs')
        .findOne({ _id: 'token-cleanup' as never }),
    ).toMatchObject({
      paused: true,
      changed_by: `admin:${ADMIN.id}`,
    });
    expect(
      fake.chat(ADMIN.id).messages.find((message) => message.message_id === tasks!.message_id)?.text,
    ).toMatch(/token-cleanup: .*\n {2}state: paused/);
    const refreshed = fake
      .chat(ADMIN.id)
      .messages.find((message) => message.message_id === tasks!.message_id)!;
    await admin.press(refreshed.message_id, 'task:resume:token-cleanup');
    expect((await t.app.runtime.stats()).find((job) => job.name === 'token-cleanup')?.paused).toBe(false);

    await admin.press(refreshed.message_id, 'task:run:token-count-reset');
    await waitFor(() => /✅ token-count-reset succeeded/.test(admin.lastBotText() ?? ''));
  });

  it('/run runs a job in the background and answers with its result', async () => {
    // The result may follow at once: replies into one chat are no longer spaced a second apart.
    expect((await admin.say('/run token-cleanup'))[0]?.text).toBe('▶ Running token-cleanup…');
    await waitFor(() =>
      /^✅ token-cleanup succeeded in \d+ ms: deleted 0\.$/.test(admin.lastBotText() ?? ''),
    );
  });

  it('/stats reports users, tokens, deletions and broadcasts', async () => {
    const text = await reply('/stats');
    expect(text).toMatch(
      /^📊 Stats\nUsers: \d+ active, \d+ blocked\nTokens: \d+ unused, \d+ verified, \d+ bypassed\n/,
    );
    expect(text).toMatch(/Pending deletions: \d+ \(\d+ due now/);
    expect(text).toMatch(/Active broadcasts: 0$/);
  });

  it('answers garbage arguments with a specific message and changes nothing', async () => {
    const before = await snapshot();
    const longest = formatMinutes(t.app.deps.deleteTime.maxMinutes);
    const cases: Array<[string, RegExp]> = [
      ['/setdeletetime', /A duration is missing\. Use minutes like 10, or 10m, 2h, 1h30m\./],
      ['/setdeletetime abc', /“abc” is not a duration\./],
      ['/setdeletetime 0', new RegExp(`between 1 minute and ${longest}; “0” is 0 minutes`)],
      [
        '/setdeletetime 48h',
        new RegExp(
          `between 1 minute and ${longest}; “48h” is 48 hours\\.\\nThe longest is ${longest}: Telegram lets the bot delete messages only for 48 hours`,
        ),
      ],
      ['/setdeletetime 49h', new RegExp(`between 1 minute and ${longest}; “49h” is 49 hours`)],
      ['/setdeletetime {"$gt":""}', /is not a duration/],
      ['/deletetime now', /takes no arguments/],
      ['/bypass', /^Usage: \/bypass <user_id> \[days\]/],
      ['/bypass abc', /“abc” is not a Telegram user id/],
      ['/bypass -5', /“-5” is not a Telegram user id/],
      ['/bypass 123 0', /“0” is not a number of days\. Use a whole number from 1 to 365/],
      ['/bypass 123 7 extra', /^Usage: \/bypass/],
      ['/run', /^Usage: \/run <job>\. Jobs: token-cleanup, message-deleter/],
      ['/run nope', /“nope” is not a job\. Jobs:/],
      ['/run {"$ne":null}', /is not a job/],
      ['/save', /Reply \/save \(with nothing after it\)/],
      ['/broadcast 2h', /Reply to the message to send with \/broadcast/],
      ['/tasks all', /takes no arguments/],
      ['/stats please', /takes no arguments/],
      [`/setdeletetime ${'9'.repeat(500)}`, /is not a duration/],
    ];
    for (const [command, expected] of cases) {
      expect(await reply(command), command).toMatch(expected);
    }
    await admin.say('x');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    expect(await reply('/broadcast soon', { replyTo: source.message_id })).toMatch(
      /“soon” is not a duration/,
    );
    expect(await reply('/broadcast 3d', { replyTo: source.message_id })).toMatch(/is not a duration/);
    expect(await reply('/save now', { replyTo: source.message_id })).toMatch(
      /Reply \/save \(with nothing after it\)/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('refuses every admin command from a non-admin, logs the attempt, and changes nothing', async () => {
    const mallory = new TestUser(fake, { id: 6666, first_name: 'Mallory' });
    await mallory.say('/start');
    await mallory.say('Mallory content');
    const own = fake.chat(6666).messages.at(-1)!;
    const before = await snapshot();
    // Every admin command the features declare, with arguments that would work for an admin.
    const exampleArguments: Record<string, string> = {
      setdeletetime: ' 1m',
      broadcast: ' 1h',
      run: ' token-cleanup',
      schedule: ' token-cleanup 0 5 * * *',
      bypass: ' 6666 365',
      digest: ' 30',
    };
    const commands = adminCommands().map(({ command }) => `/${command}${exampleArguments[command] ?? ''}`);
    expect(commands).toHaveLength(10);
    for (const command of commands) {
      const answers = await mallory.say(command, { replyTo: own.message_id });
      expect(
        answers.map((message) => message.text),
        command,
      ).toEqual(['Sorry, that command is for admins only.']);
    }
    expect(await snapshot()).toEqual(before);
    const refusals = t.logs
      .records()
      .filter((record) => record.msg === 'refused an admin command from a non-admin');
    expect(refusals.filter((record) => record.userId === 6666)).toHaveLength(commands.length);
  });

  it('answers malformed deep links without touching the database', async () => {
    const visitor = new TestUser(fake, { id: 7777, first_name: 'Visitor' });
    await visitor.say('/start');
    const before = await snapshot();
    for (const payload of ['c_x', 'v_%%%', 'zz_unknown', '{"$ne":null}', 'c_AAAAAAAAAAAA', 'a'.repeat(70)]) {
      const [answer] = await visitor.say(`/start ${payload}`);
      expect(answer?.text, payload).toMatch(/This link is not valid|does not lead to any content/);
    }
    expect(await snapshot()).toEqual(before);
  });

  /** Every collection the bot writes, to prove a refused request changed nothing. */
  async function snapshot() {
    const names = [
      'users',
      'tokens',
      'token_generator_count',
      'pending_deletions',
      'contents',
      'broadcasts',
      'broadcast_messages',
      'settings',
      'scheduler_runs',
      'daily_stats',
      'scheduler_jobs',
    ];
    const entries = await Promise.all(
      names.map(
        async (name) => [name, await db().db.collection(name).find({}).sort({ _id: 1 }).toArray()] as const,
      ),
    );
    return Object.fromEntries(entries);
  }
});
