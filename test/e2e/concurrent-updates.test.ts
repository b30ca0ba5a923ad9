import { afterEach, describe, expect, it } from 'vitest';
import { USER_LIMIT_NOTICE } from '../../bot/updates/user-limit.js';
import { noUpdatesInHand, startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

/** Issue #12: many users at once in polling mode (the runner, per-chat queues, stop, 409, flooding). */
describe('end to end: concurrent updates (#12)', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi();
  let t: TestApp | undefined;

  afterEach(async () => {
    fake.setLatency('sendMessage', 0);
    await t?.stop();
    t = undefined;
  });

  const allHandled = () =>
    waitFor(() => fake.pendingUpdateCount() === 0 && fake.isLongPolling() && noUpdatesInHand(), {
      message: 'every update handled',
    });

  const botTexts = (chatId: number) =>
    fake
      .chat(chatId)
      .messages.filter((message) => message.from?.is_bot)
      .map((message) => message.text ?? '');

  it('#12.1 keeps the updates of one chat in order while other chats go on past it', async () => {
    t = await startTestApp(db(), fake);
    const slow = { id: 12_101, first_name: 'Sol' };
    const other = { id: 12_102, first_name: 'Oto' };
    // The slow chat's first reply has to wait out a flood wait of a second.
    fake.injectFault({ method: 'sendMessage', chatId: slow.id, status: 429, retryAfter: 1 });
    fake.sendUserMessage({ from: slow, text: '/help' });
    fake.sendUserMessage({ from: slow, text: '/start' });
    fake.sendUserMessage({ from: other, text: '/start' });
    await allHandled();

    const [help, greeting] = botTexts(slow.id);
    expect(help).not.toMatch(/^Hello/);
    expect(greeting).toMatch(/^Hello, Sol!/);
    const answered = fake.calls.filter((call) => call.method === 'sendMessage' && call.ok);
    const firstFor = (chatId: number) => answered.findIndex((call) => call.params.chat_id === chatId);
    // The other user did not wait for the slow chat's flood wait.
    expect(firstFor(other.id)).toBeLessThan(firstFor(slow.id));
    expect(fake.count429()).toBe(1);
  });

  it('#12.1 on stop, finishes the updates in hand before exiting, and none is handled again after a restart', async () => {
    t = await startTestApp(db(), fake, { SHUTDOWN_TIMEOUT_MS: '10000' });
    fake.setLatency('sendMessage', 400);
    const users = Array.from({ length: 5 }, (_, i) => ({ id: 12_200 + i, first_name: `U${i}` }));
    for (const user of users) fake.sendUserMessage({ from: user, text: '/help' });
    // All five replies are on their way when the stop comes.
    await waitFor(() => fake.callsInFlight('sendMessage') === 5, { message: 'five replies in flight' });
    await t.stop();
    t = undefined;
    for (const user of users) expect(botTexts(user.id)).toHaveLength(1);

    fake.setLatency('sendMessage', 0);
    t = await startTestApp(db(), fake);
    const late = new TestUser(fake, { id: 12_299, first_name: 'Late' });
    await late.say('/help');
    for (const user of users) expect(botTexts(user.id)).toHaveLength(1);
  });

  it('#12.5 a 409 from a stray getUpdates makes the holder pause briefly and keep its lease, not stand by for a lease', async () => {
    t = await startTestApp(db(), fake, { LEASE_SECONDS: '120' });
    const leases = db().collections.leases;
    const holder = (await leases.findOne({ _id: 'polling' }))?.owner;
    expect(holder).toBeDefined();
    // Another getUpdates for the token (say, the previous holder's last poll) pushes ours out.
    const stray = await fetch(`${fake.apiRoot}/bot${fake.token}/getUpdates?timeout=1`);
    expect(stray.status).toBe(200);
    const app = t;
    await waitFor(() =>
      app.logs
        .messages()
        .some((message) => message.startsWith('Telegram says another getUpdates is open for this bot token')),
    );
    // Back within seconds, not after LEASE_SECONDS.
    const [reply] = await new TestUser(fake, { id: 12_300, first_name: 'Cy' }).say('/start');
    expect(reply?.text).toMatch(/^Hello, Cy!/);
    expect((await leases.findOne({ _id: 'polling' }))?.owner).toBe(holder);
    expect(t.logs.messages()).not.toContain(
      'another instance is receiving updates; standing by to take over',
    );
  });

  it('#12.6 a flooding user is slowed down with one notice and one log line; a hundred others are served as usual', async () => {
    t = await startTestApp(db(), fake, { USER_RATE_LIMIT_PER_MINUTE: '20' });
    const flooder = { id: 12_400, first_name: 'Flo' };
    const others = Array.from({ length: 100 }, (_, i) => ({ id: 12_500 + i, first_name: `N${i}` }));
    for (let i = 0; i < 300; i++) {
      fake.sendUserMessage({ from: flooder, text: '/help' });
      const other = others[i % 100];
      if (i < 100 && other) fake.sendUserMessage({ from: other, text: '/help' });
    }
    await allHandled();

    for (const other of others) expect(botTexts(other.id)).toHaveLength(1);
    const flooderTexts = botTexts(flooder.id);
    expect(flooderTexts).toHaveLength(21);
    expect(flooderTexts.filter((text) => text === USER_LIMIT_NOTICE)).toHaveLength(1);
    const warnings = t.logs
      .messages()
      .filter((message) => message.startsWith('a user is sending updates faster than the limit'));
    expect(warnings).toHaveLength(1);
  });
});
