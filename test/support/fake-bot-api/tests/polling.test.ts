import { Api, Bot, InlineKeyboard } from 'grammy';
import { describe, expect, it, vi } from 'vitest';
import { DESCRIPTIONS, startFakeBotApi } from '../index.js';
import { alice, bob, grammyError, rawCall, signal, useFakeWithBot } from './helpers.js';

describe('fake Bot API: bot identity and updates', () => {
  const { clock, fake, bot } = useFakeWithBot();

  it('answers getMe with the configured bot', async () => {
    const me = await bot.api.getMe();
    expect(me).toMatchObject({ id: 100000, is_bot: true, username: 'test_maint_bot', can_join_groups: true });
    expect(fake.botInfo).toEqual(me);

    const custom = await startFakeBotApi({
      bot: { id: 7, username: 'other_bot', first_name: 'Other' },
      token: '7:abc',
    });
    try {
      const otherBot = new Bot('7:abc', { client: { apiRoot: custom.apiRoot } });
      expect(await otherBot.api.getMe()).toMatchObject({ id: 7, username: 'other_bot', first_name: 'Other' });
    } finally {
      await custom.stop();
    }
  });

  it('delivers commands and button presses to a long-polling grammY bot, and stops promptly', async () => {
    const started = signal();
    const command = signal<{ match: string; entities: unknown }>();
    const replied = signal();
    const pressed = signal<string>();
    bot.command('start', async (ctx) => {
      command.resolve({ match: ctx.match, entities: ctx.message?.entities });
      await ctx.reply('Choose', { reply_markup: new InlineKeyboard().text('Yes', 'yes') });
      replied.resolve();
    });
    bot.callbackQuery('yes', async (ctx) => {
      await ctx.answerCallbackQuery({ text: 'Done' });
      pressed.resolve(ctx.callbackQuery.id);
    });
    const running = bot.start({ onStart: () => started.resolve() });
    await started.promise;

    fake.sendUserMessage({ from: alice, text: '/start@test_maint_bot invite-42' });
    expect(await command.promise).toEqual({
      match: 'invite-42',
      entities: [{ type: 'bot_command', offset: 0, length: '/start@test_maint_bot'.length }],
    });
    await replied.promise;
    const menu = fake.lastBotMessage(alice.id);
    expect(menu).toMatchObject({ text: 'Choose', chat: { id: alice.id, type: 'private' } });

    const queryId = fake.pressButton({ from: alice, messageId: menu?.message_id ?? 0, data: 'yes' });
    expect(await pressed.promise).toBe(queryId);
    expect(fake.answeredCallbackQueries()).toMatchObject([
      { id: queryId, data: 'yes', answer: { text: 'Done' } },
    ]);

    // Prompt means well before the 30 s long-poll timeout; the test's own timeout enforces it.
    await bot.stop();
    await running;
    // bot.stop() confirms the handled updates with a last getUpdates call.
    expect(fake.pendingUpdateCount()).toBe(0);
  }, 10_000);

  it('gives deep links and plain commands bot_command entities', () => {
    const deepLink = fake.sendUserMessage({ from: alice, text: '/start ref_7' });
    expect(deepLink.entities).toEqual([{ type: 'bot_command', offset: 0, length: 6 }]);
    const plain = fake.sendUserMessage({ from: alice, text: 'hello' });
    expect(plain.entities).toBeUndefined();
    expect(plain.message_id).toBe(deepLink.message_id + 1);
  });

  it('refuses to press a button the user cannot see', async () => {
    fake.addChat(alice.id, { user: alice });
    const sent = await bot.api.sendMessage(alice.id, 'Menu', {
      reply_markup: new InlineKeyboard().text('A', 'a').url('Site', 'https://example.com'),
    });
    expect(() => fake.pressButton({ from: alice, messageId: sent.message_id, data: 'b' })).toThrow(
      /no button/,
    );
    expect(() => fake.pressButton({ from: alice, messageId: sent.message_id + 1, data: 'a' })).toThrow(
      /not visible/,
    );
    await bot.api.deleteMessage(alice.id, sent.message_id);
    expect(() => fake.pressButton({ from: alice, messageId: sent.message_id, data: 'a' })).toThrow(
      /not visible/,
    );
  });

  it('confirms updates by offset and honours limit', async () => {
    for (const text of ['one', 'two', 'three']) fake.sendUserMessage({ from: alice, text });
    const firstTwo = await bot.api.getUpdates({ limit: 2 });
    expect(firstTwo.map((update) => update.message?.text)).toEqual(['one', 'two']);
    const next = firstTwo.at(-1)?.update_id ?? 0;
    expect((await bot.api.getUpdates({ offset: next + 1 })).map((u) => u.message?.text)).toEqual(['three']);
    // Confirmed updates are gone even without an offset.
    expect((await bot.api.getUpdates()).map((u) => u.message?.text)).toEqual(['three']);
    expect(await bot.api.getUpdates({ offset: next + 2 })).toEqual([]);
  });

  it('keeps only the last |offset| updates for a negative offset', async () => {
    for (const text of ['one', 'two', 'three']) fake.sendUserMessage({ from: alice, text });
    expect((await bot.api.getUpdates({ offset: -1 })).map((u) => u.message?.text)).toEqual(['three']);
    expect(fake.pendingUpdateCount()).toBe(1);
  });

  it('wakes a long poll as soon as an update is queued', async () => {
    const poll = bot.api.getUpdates({ timeout: 30 });
    await vi.waitFor(() => expect(fake.isLongPolling()).toBe(true));
    fake.sendUserMessage({ from: alice, text: 'ping' });
    const updates = await poll;
    expect(updates.map((u) => u.message?.text)).toEqual(['ping']);
  });

  it('ends a waiting long poll with no updates when the server stops', async () => {
    const poll = bot.api.getUpdates({ timeout: 30 });
    await vi.waitFor(() => expect(fake.isLongPolling()).toBe(true));
    await fake.stop();
    expect(await poll).toEqual([]);
  }, 10_000);

  it('terminates the older of two overlapping long polls with 409 Conflict', async () => {
    const older = rawCall(fake, 'getUpdates', { timeout: 30 });
    await vi.waitFor(() => expect(fake.isLongPolling()).toBe(true));
    const newer = bot.api.getUpdates({ timeout: 30 });
    expect(await older).toEqual({
      status: 409,
      body: { ok: false, error_code: 409, description: DESCRIPTIONS.getUpdatesConflict },
    });
    fake.sendUserMessage({ from: alice, text: 'for the newer poll' });
    expect((await newer).map((u) => u.message?.text)).toEqual(['for the newer poll']);
  });

  it('makes the older of two bot instances fail with 409 while the newer one keeps waiting', async () => {
    const otherInstance = new Api(fake.token, { apiRoot: fake.apiRoot });
    const older = grammyError(bot.api.getUpdates({ timeout: 30 }));
    await vi.waitFor(() => expect(fake.isLongPolling()).toBe(true));
    let newerSettled = false;
    const newer = otherInstance.getUpdates({ timeout: 30 }).finally(() => {
      newerSettled = true;
    });

    const conflict = await older;
    expect([conflict.error_code, conflict.description]).toEqual([
      409,
      'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect([newerSettled, fake.isLongPolling()]).toEqual([false, true]);

    fake.sendUserMessage({ from: alice, text: 'for the running instance' });
    expect((await newer).map((u) => u.message?.text)).toEqual(['for the running instance']);
  });

  it('remembers allowed_updates and drops kinds the bot did not ask for', async () => {
    await bot.api.getUpdates({ allowed_updates: ['callback_query'] });
    fake.sendUserMessage({ from: alice, text: 'ignored' });
    expect(fake.pendingUpdateCount()).toBe(0);
    await bot.api.getUpdates({ allowed_updates: [] });
    fake.sendUserMessage({ from: alice, text: 'delivered' });
    expect((await bot.api.getUpdates()).map((u) => u.message?.text)).toEqual(['delivered']);
  });

  it('forgets updates nobody fetched for 24 hours', async () => {
    fake.sendUserMessage({ from: alice, text: 'old' });
    clock.advance(24 * 60 * 60 * 1000 + 1);
    fake.sendUserMessage({ from: alice, text: 'new' });
    expect((await bot.api.getUpdates()).map((u) => u.message?.text)).toEqual(['new']);
  });

  it('queues my_chat_member updates when a user blocks and unblocks the bot', async () => {
    fake.addChat(bob.id, { user: bob });
    fake.blockBot(bob.id);
    const blocked = await grammyError(bot.api.sendMessage(bob.id, 'still there?'));
    expect([blocked.error_code, blocked.description]).toEqual([
      403,
      'Forbidden: bot was blocked by the user',
    ]);
    fake.unblockBot(bob.id);
    await bot.api.sendMessage(bob.id, 'welcome back');

    const changes = (await bot.api.getUpdates()).map((update) => update.my_chat_member);
    expect(changes).toMatchObject([
      {
        chat: { id: bob.id, type: 'private', first_name: 'Bob' },
        from: { id: bob.id, is_bot: false },
        old_chat_member: { status: 'member', user: { id: 100000, is_bot: true } },
        new_chat_member: { status: 'kicked', until_date: 0 },
      },
      { old_chat_member: { status: 'kicked' }, new_chat_member: { status: 'member' } },
    ]);
  });

  it('answers deleteWebhook and getWebhookInfo like a bot without a webhook', async () => {
    expect(await rawCall(fake, 'deleteWebhook', { drop_pending_updates: false })).toEqual({
      status: 200,
      body: { ok: true, result: true, description: 'Webhook is already deleted' },
    });
    fake.sendUserMessage({ from: alice, text: 'pending' });
    expect(await bot.api.getWebhookInfo()).toEqual({
      url: '',
      has_custom_certificate: false,
      pending_update_count: 1,
    });
    await bot.api.deleteWebhook({ drop_pending_updates: true });
    expect(fake.pendingUpdateCount()).toBe(0);
  });
});
