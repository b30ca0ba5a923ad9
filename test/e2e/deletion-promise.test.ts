import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const MINUTE = 60_000;
const ADMIN = { id: 9101, first_name: 'Ada' };

/** The running bot keeping the deletion promise: what #10 asked of the app as a whole. */
describe('end to end: the deletion promise (#10)', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('test');
  let t: TestApp | undefined;

  beforeEach(async () => {
    await Promise.all(Object.values(db().collections).map((collection) => collection.deleteMany({})));
    await db().db.collection('scheduler_runs').deleteMany({});
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  async function deliverTo(user: TestUser, admin: TestUser) {
    await admin.say('Protected content');
    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    const [saved] = await admin.say('/save', { replyTo: source.message_id });
    const link = /https:\/\/t\.me\/\S+/.exec(saved?.text ?? '')?.[0];
    await admin.say(`/bypass ${user.id} 1`);
    await user.say('/start');
    return user.open(link!);
  }

  it('#10.11 delivered content and broadcasts are protected from forwarding and saving (PROTECT_CONTENT)', async () => {
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id) });
    const admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
    const bea = new TestUser(fake, { id: 9102, first_name: 'Bea' });
    const delivered = await deliverTo(bea, admin);
    expect(delivered[0]).toMatchObject({ text: 'Protected content', has_protected_content: true });

    const source = fake.chat(ADMIN.id).messages.at(-1)!;
    await admin.say('/broadcast 1h', { replyTo: source.message_id });
    await t.app.broadcaster.whenIdle();
    const copy = fake.messages(bea.id).at(-1);
    expect(copy?.copied_from).toBeDefined();
    expect(copy?.has_protected_content).toBe(true);
  });

  it('#10.11 PROTECT_CONTENT=false lets recipients forward what they got', async () => {
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id), PROTECT_CONTENT: 'false' });
    const admin = new TestUser(fake, ADMIN);
    await admin.say('/start');
    const delivered = await deliverTo(new TestUser(fake, { id: 9103, first_name: 'Cid' }), admin);
    expect(delivered[0]?.has_protected_content).toBeUndefined();
  });

  it('#10.11 a 5xx on setMyCommands at start-up does not stop the bot; the menu is set once Telegram answers', async () => {
    fake.injectFault({ method: 'setMyCommands', status: 502, times: 2 });
    t = await startTestApp(db(), fake, { ADMIN_IDS: String(ADMIN.id) });
    const app = t;
    await waitFor(() => app.logs.messages().includes('could not set the command menu; trying again later'));
    // The bot answers meanwhile.
    const [greeting] = await new TestUser(fake, { id: 9104, first_name: 'Dan' }).say('/start');
    expect(greeting?.text).toMatch(/^Hello, Dan!/);
    await waitFor(() => fake.commands().length > 0, {
      timeoutMs: 20_000,
      message: 'the command menu after the retry',
    });
    expect(fake.commands().map((command) => command.command)).toEqual(['start', 'help']);
  });

  it('#10.8 on stop, a running batch gets the rest of SHUTDOWN_TIMEOUT_MS to finish, and MongoDB closes only after it is written', async () => {
    // Must hold: the stop aborts the run; the batch in flight finishes and its bookkeeping is
    // written (every record whose notice went out is removed, the run is recorded) before the
    // database closes; nothing is written against a closed client.
    t = await startTestApp(db(), fake, { DELETION_BATCH_SIZE: '10', SHUTDOWN_TIMEOUT_MS: '8000' });
    const now = t.now();
    for (let i = 0; i < 30; i++) {
      const chatId = 9200 + i;
      fake.addChat(chatId, { user: { id: chatId, first_name: `U${i}` } });
      const ids = fake.seedMessages(chatId, 2);
      await db().collections.pendingDeletions.insertOne({
        user_id: chatId,
        chat_id: chatId,
        message_ids: ids,
        delete_at: new Date(now.getTime() - MINUTE + i),
        content_id: `content${i}xx`,
        created_at: new Date(now.getTime() - 30 * MINUTE),
      });
    }
    // Each notice takes a while: the stop comes in the middle of the first batch's notices.
    fake.setLatency('sendMessage', 300);
    const run = t.app.runtime.runNow('message-deleter');
    await waitFor(() => fake.callCount('sendMessage') >= 2, { message: 'notices going out' });
    await t.stop();
    t = undefined;
    const outcome = await run;
    expect(outcome.status).toBe('abandoned');

    const notified = new Set(
      fake.calls
        .filter((call) => call.method === 'sendMessage' && call.ok)
        .map((call) => call.params.chat_id),
    );
    const left = await db().collections.pendingDeletions.find().toArray();
    // Every record whose notice went out is gone; every other one is still there for the next run.
    expect(left.filter((record) => notified.has(record.chat_id))).toEqual([]);
    expect(left.length + notified.size).toBe(30);
    expect(notified.size).toBeGreaterThan(0);
    expect(
      await db().db.collection<{ _id: string }>('scheduler_runs').findOne({ _id: outcome.runId }),
    ).toMatchObject({
      status: 'abandoned',
    });
  });
});
