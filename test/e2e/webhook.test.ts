import type { Update } from 'grammy/types';
import pMap from 'p-map';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app-harness.js';
import type { FakeUser } from '../support/fake-bot-api/index.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'hook_Secret-42';
const WEBHOOK_URL = 'https://bot.example/tg/updates';
const WEBHOOK_ENV = {
  BOT_MODE: 'webhook',
  WEBHOOK_URL,
  WEBHOOK_SECRET: SECRET,
  WEBHOOK_PORT: '0',
  WEBHOOK_HOST: '127.0.0.1',
};

const user = (id: number): FakeUser => ({ id, first_name: `U${id}` });

describe('end to end: webhook mode with replicas behind a load balancer', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  const apps: TestApp[] = [];
  let a: TestApp;
  let b: TestApp;

  const inbox = () => db().collections.updateInbox;
  const start = async (env: Record<string, string> = {}) => {
    const app = await startTestApp(db(), fake, { ...WEBHOOK_ENV, ...env });
    apps.push(app);
    return app;
  };

  /** What Telegram (through the load balancer) does: POST the update to one replica. */
  const post = (app: TestApp, body: unknown, secret: string | null = SECRET) =>
    fetch(app.app.webhookUrl as string, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(secret === null ? {} : { 'X-Telegram-Bot-Api-Secret-Token': secret }),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** A user writes; the update Telegram would post is taken from the fake. */
  const write = (from: FakeUser, text: string): Update => {
    fake.sendUserMessage({ from, text });
    const [update, ...rest] = fake.takeWebhookUpdates();
    expect(rest).toEqual([]);
    return update as Update;
  };
  const botReplies = (chatId: number) =>
    fake.messages(chatId).filter((message) => message.from?.is_bot === true);
  const allDone = async (count: number) =>
    waitFor(async () => (await inbox().countDocuments({ state: 'done' })) === count, {
      timeoutMs: 20_000,
      message: `${count} updates done`,
    });

  beforeAll(async () => {
    a = await start({ HTTP_PORT: '0' });
    b = await start();
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
  });

  it('sets the webhook with the secret, the handled kinds and max_connections, and is ready', async () => {
    const calls = fake.calls.filter((call) => call.method === 'setWebhook' && call.ok);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls[0]?.params).toEqual({
      url: WEBHOOK_URL,
      secret_token: SECRET,
      allowed_updates: ['message', 'callback_query', 'my_chat_member'],
      max_connections: 40,
      drop_pending_updates: false,
    });
    expect(fake.webhookSettings()).toEqual({ url: WEBHOOK_URL, secretToken: SECRET, maxConnections: 40 });
    const ready = await fetch(`${a.app.opsUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { webhook: 'ok' } });
    // WEBHOOK_PORT equal to HTTP_PORT (both 0 here): one server answers both.
    expect(a.app.opsUrl).toBe(new URL(a.app.webhookUrl as string).origin);
    expect(b.app.opsUrl).toBeUndefined();
    // The secret never reaches the logs.
    expect(JSON.stringify([...a.logs.records(), ...b.logs.records()])).not.toContain(SECRET);
  });

  it('tries setWebhook again after a 5xx at start instead of stopping', async () => {
    fake.injectFault({ method: 'setWebhook', status: 502, times: 1 });
    const before = fake.calls.filter((call) => call.method === 'setWebhook').length;
    const c = await start();
    const calls = fake.calls.filter((call) => call.method === 'setWebhook').slice(before);
    expect(calls.map((call) => call.status)).toEqual([502, 200]);
    expect(c.app.webhookUrl).toBeDefined();
  });

  it('answers 401 to a missing or wrong secret and changes nothing', async () => {
    const update = write(user(501), '/start');
    for (const secret of [null, '', 'hook_Secret-43', `${SECRET}x`, SECRET.slice(0, -1)]) {
      const response = await post(a, update, secret);
      expect(response.status, String(secret)).toBe(401);
      expect(await response.text()).not.toContain(SECRET);
    }
    expect(await inbox().countDocuments({ _id: update.update_id })).toBe(0);
    expect(botReplies(501)).toEqual([]);
    // The same update with the secret is handled: nothing above marked it as seen.
    expect((await post(a, update)).status).toBe(200);
    await waitFor(() => botReplies(501).length === 1);
  });

  it('answers 400 to a body that is not an update and records nothing', async () => {
    const before = await inbox().countDocuments();
    for (const body of [
      'not json',
      '',
      'null',
      '[]',
      '[{"update_id":1}]',
      '{}',
      '{"update_id":"7"}',
      '{"update_id":1.5}',
      '{"update_id":-1}',
      '42',
    ]) {
      const response = await post(b, body);
      expect(response.status, body).toBe(400);
    }
    const noType = await fetch(b.app.webhookUrl as string, {
      method: 'POST',
      headers: { 'X-Telegram-Bot-Api-Secret-Token': SECRET },
      body: 'x',
    });
    expect(noType.status).toBe(400);
    expect(await inbox().countDocuments()).toBe(before);
  });

  it("handles a good update: 200, and the user gets the bot's reply", async () => {
    const update = write(user(502), '/start');
    const response = await post(a, update);
    expect(response.status).toBe(200);
    await waitFor(() => botReplies(502).length === 1, { message: 'the reply' });
    expect(botReplies(502)[0]?.text).toMatch(/^Hello, U502!/);
    await waitFor(async () => (await inbox().findOne({ _id: update.update_id }))?.state === 'done');
    expect(await db().collections.users.countDocuments({ user_id: 502 })).toBe(1);
  });

  it('handles an update posted twice, also at once to two replicas, once', async () => {
    const update = write(user(503), '/start');
    const answers = await Promise.all([post(a, update), post(b, update), post(a, update)]);
    expect(answers.map((response) => response.status)).toEqual([200, 200, 200]);
    await waitFor(async () => (await inbox().findOne({ _id: update.update_id }))?.state === 'done');
    expect((await post(b, update)).status).toBe(200);
    expect(await inbox().findOne({ _id: update.update_id })).toMatchObject({ state: 'done', attempts: 1 });
    expect(botReplies(503)).toHaveLength(1);
  });

  it('answers the POST while handling is still blocked in a Telegram call', async () => {
    const update = write(user(504), '/start');
    const hold = fake.holdCalls('sendMessage');
    try {
      const response = await post(b, update);
      expect(response.status).toBe(200);
      // Answered, yet the reply is still waiting in sendMessage.
      await waitFor(() => fake.callsInFlight('sendMessage') === 1, { message: 'the reply held' });
      expect(botReplies(504)).toEqual([]);
      expect(await inbox().findOne({ _id: update.update_id })).toMatchObject({ state: 'handling' });
    } finally {
      hold.release();
    }
    await waitFor(() => botReplies(504).length === 1, { message: 'the reply after release' });
  });

  it("handles one chat's updates in update_id order, never two at once, across replicas", async () => {
    const chat = user(505);
    const first = write(chat, '/start');
    const second = write(chat, '/help');
    const hold = fake.holdCalls('sendMessage');
    try {
      expect((await post(a, first)).status).toBe(200);
      await waitFor(() => fake.callsInFlight('sendMessage') === 1, { message: 'the first reply held' });
      expect((await post(b, second)).status).toBe(200);
      // b recorded it but may not start it: the chat's first update is being handled.
      await waitFor(async () => {
        const docs = await inbox()
          .find({ _id: { $in: [first.update_id, second.update_id] } })
          .sort({ _id: 1 })
          .toArray();
        return docs.map((doc) => doc.state).join() === 'handling,pending';
      });
      // Both replicas' sweeps have a chance to try the pending one meanwhile.
      await waitFor(() => b.logs.records().length > 0 && fake.callsInFlight('sendMessage') === 1);
      expect(await inbox().findOne({ _id: second.update_id })).toMatchObject({
        state: 'pending',
        attempts: 0,
      });
    } finally {
      hold.release();
    }
    await waitFor(() => botReplies(505).length === 2, { message: 'both replies' });
    const [startReply, helpReply] = botReplies(505);
    expect(startReply?.text).toMatch(/^Hello, U505!/);
    expect(helpReply?.text).not.toMatch(/^Hello/);
    const sends = fake.calls.filter((call) => call.method === 'sendMessage' && call.params.chat_id === 505);
    expect(sends).toHaveLength(2);
  });

  it("hands a stopped replica's claimed update to another replica through the sweep", async () => {
    const dying = await start({ LEASE_SECONDS: '2', SHUTDOWN_TIMEOUT_MS: '200' });
    await start({ LEASE_SECONDS: '2' });
    const update = write(user(506), '/start');
    const hold = fake.holdCalls('sendMessage');
    expect((await post(dying, update)).status).toBe(200);
    await waitFor(() => fake.callsInFlight('sendMessage') === 1, {
      message: 'the dying replica in sendMessage',
    });
    const claim = await inbox().findOne({ _id: update.update_id });
    expect(claim).toMatchObject({ state: 'handling', attempts: 1 });
    // Its call never gets an answer it can use (its connection is gone); its claim stays behind.
    await dying.stop();
    hold.release({ status: 502, description: 'Bad Gateway' });
    await waitFor(() => botReplies(506).length === 1, {
      timeoutMs: 15_000,
      message: 'the survivor replying',
    });
    const doc = await waitFor(async () => {
      const found = await inbox().findOne({ _id: update.update_id });
      return found?.state === 'done' ? found : undefined;
    });
    expect(doc.attempts).toBe(2);
    const takers = apps.filter((app) =>
      app.logs.messages().includes('handling an update an instance stopped handling'),
    );
    expect(takers).toHaveLength(1);
    expect(takers[0]).not.toBe(dying);
    expect(claim?.owner).not.toBe(undefined);
    expect(botReplies(506)).toHaveLength(1);
  });

  it('three replicas handle 3,000 updates, each posted twice to different replicas, exactly once', async () => {
    const c = await start();
    const replicas = [a, b, c];
    const users = Array.from({ length: 1_000 }, (_, i) => user(10_000 + i));
    const updates: Update[] = [];
    for (let round = 0; round < 3; round++) {
      for (const from of users) fake.sendUserMessage({ from, text: '/start' });
      updates.push(...fake.takeWebhookUpdates());
    }
    expect(updates).toHaveLength(3_000);
    const before = await inbox().countDocuments({ state: 'done' });
    const deliveries = updates.flatMap((update, i) => [
      { update, to: replicas[i % 3] as TestApp },
      { update, to: replicas[(i + 1) % 3] as TestApp },
    ]);
    const statuses = await pMap(deliveries, async ({ update, to }) => (await post(to, update)).status, {
      concurrency: 60,
    });
    expect(statuses.every((status) => status === 200)).toBe(true);
    await allDone(before + 3_000);
    const ids = updates.map((update) => update.update_id);
    const docs = await inbox()
      .find({ _id: { $in: ids } })
      .toArray();
    expect(docs).toHaveLength(3_000);
    expect(docs.every((doc) => doc.state === 'done' && doc.attempts === 1)).toBe(true);
    const wrong = users.filter((from) => botReplies(from.id).length !== 3).map((from) => from.id);
    expect(wrong).toEqual([]);
    expect(
      fake.calls.filter((call) => call.method === 'sendMessage' && Number(call.params.chat_id) >= 10_000),
    ).toHaveLength(3_000);
    // Every replica took part.
    for (const replica of replicas) {
      expect(replica.logs.records().some((record) => record.msg === 'update handler failed')).toBe(false);
    }
  }, 120_000);
});

describe('end to end: switching back to polling', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');

  it('deletes the webhook (keeping waiting updates) before polling, and answers users', async () => {
    await fetch(`${fake.apiRoot}/bot${fake.token}/setWebhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: WEBHOOK_URL, secret_token: SECRET }),
    });
    fake.sendUserMessage({ from: user(601), text: '/start' });
    const app = await startTestApp(db(), fake);
    try {
      // Ours comes first (grammY's bot.start sends one of its own later, without parameters).
      expect(fake.calls.find((call) => call.method === 'deleteWebhook')?.params).toEqual({
        drop_pending_updates: false,
      });
      expect(fake.webhookSettings().url).toBe('');
      await waitFor(() => fake.lastBotMessage(601)?.text?.startsWith('Hello, U601!'), {
        message: 'the update sent while the webhook was set, answered by polling',
      });
      expect(fake.calls.filter((call) => call.method === 'getUpdates' && call.status === 409)).toEqual([]);
    } finally {
      await app.stop();
    }
  });
});
