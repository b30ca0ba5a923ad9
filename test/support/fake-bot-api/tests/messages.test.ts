import { Bot, InlineKeyboard } from 'grammy';
import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS, startFakeBotApi } from '../index.js';
import { alice, bob, grammyError, rawCall, useFakeWithBot } from './helpers.js';

describe('fake Bot API: messages', () => {
  const { clock, fake, bot } = useFakeWithBot({ chats: [alice] });

  async function failure(call: Promise<unknown>) {
    const error = await grammyError(call);
    // grammY reports absent `parameters` as {}.
    const parameters = Object.keys(error.parameters).length === 0 ? undefined : error.parameters;
    return { error_code: error.error_code, description: error.description, parameters };
  }

  it('sends, copies, edits and deletes, with the results visible in chat()', async () => {
    const userMessage = fake.sendUserMessage({ from: alice, text: 'please remind me' });
    const sent = await bot.api.sendMessage(alice.id, 'Reminder <b>set</b>', {
      parse_mode: 'HTML',
      reply_parameters: { message_id: userMessage.message_id },
      reply_markup: new InlineKeyboard().text('Cancel', 'cancel:1'),
      link_preview_options: { is_disabled: true },
      disable_notification: true,
      protect_content: true,
    });
    expect(sent).toEqual({
      message_id: 2,
      from: { id: 100000, is_bot: true, first_name: 'Test Maintenance Bot', username: 'test_maint_bot' },
      chat: { id: alice.id, type: 'private', first_name: 'Alice', username: 'alice' },
      date: clock.seconds(),
      has_protected_content: true,
      reply_to_message: userMessage,
      text: 'Reminder set',
      entities: [{ type: 'bold', offset: 9, length: 3 }],
      reply_markup: { inline_keyboard: [[{ text: 'Cancel', callback_data: 'cancel:1' }]] },
    });

    fake.addChat(bob.id, { user: bob });
    const copy = await bot.api.copyMessage(bob.id, alice.id, sent.message_id);
    expect(copy).toEqual({ message_id: 1 });
    expect(fake.messages(bob.id)).toMatchObject([
      {
        message_id: 1,
        text: 'Reminder set',
        copied_from: { chat_id: alice.id, message_id: sent.message_id },
      },
    ]);

    clock.advance(60_000);
    const edited = await bot.api.editMessageText(alice.id, sent.message_id, 'Reminder cancelled');
    expect(edited).toMatchObject({ text: 'Reminder cancelled', edit_date: clock.seconds() });
    expect(edited).not.toHaveProperty('reply_markup');
    const withKeyboard = await bot.api.editMessageReplyMarkup(alice.id, sent.message_id, {
      reply_markup: new InlineKeyboard().text('Undo', 'undo'),
    });
    expect(withKeyboard).toMatchObject({
      reply_markup: { inline_keyboard: [[{ text: 'Undo', callback_data: 'undo' }]] },
    });

    clock.advance(1000);
    expect(await bot.api.deleteMessage(alice.id, userMessage.message_id)).toBe(true);
    const view = fake.chat(alice.id);
    expect(view.messages.map((m) => [m.message_id, m.text])).toEqual([[2, 'Reminder cancelled']]);
    expect(view.deleted).toEqual([
      { message: expect.objectContaining({ message_id: 1 }), deletedAt: clock.now() },
    ]);
    expect(fake.lastBotMessage(alice.id)?.text).toBe('Reminder cancelled');
    expect(fake.messageCounts()).toEqual({ chats: 2, visible: 2, deleted: 1 });
  });

  it('numbers messages per chat, shared by the user and the bot', async () => {
    fake.addChat(bob.id, { user: bob });
    expect(fake.sendUserMessage({ from: alice, text: 'a' }).message_id).toBe(1);
    expect((await bot.api.sendMessage(alice.id, 'b')).message_id).toBe(2);
    expect((await bot.api.sendMessage(bob.id, 'c')).message_id).toBe(1);
    expect(fake.sendUserMessage({ from: alice, text: 'd' }).message_id).toBe(3);
  });

  it('parses numbers and JSON-serialized fields the way Telegram does', async () => {
    const answer = await rawCall(fake, 'sendMessage', {
      chat_id: String(alice.id),
      text: 'hi',
      reply_markup: JSON.stringify({ inline_keyboard: [[{ text: 'x', callback_data: 'y' }]] }),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.result).toMatchObject({
      chat: { id: alice.id },
      reply_markup: { inline_keyboard: [[{ text: 'x' }]] },
    });

    const form = await rawCall(
      fake,
      'sendmessage',
      {},
      {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ chat_id: String(alice.id), text: 'form' }).toString(),
      },
    );
    expect(form.body).toMatchObject({ ok: true, result: { text: 'form' } });
  });

  it('refuses texts Telegram refuses', async () => {
    expect(await failure(bot.api.sendMessage(alice.id, ''))).toEqual({
      error_code: 400,
      description: DESCRIPTIONS.messageTextEmpty,
      parameters: undefined,
    });
    expect((await failure(bot.api.sendMessage(alice.id, '  \n '))).description).toBe(
      DESCRIPTIONS.messageTextEmpty,
    );
    expect((await failure(bot.api.sendMessage(alice.id, 'x'.repeat(4097)))).description).toBe(
      'Bad Request: message is too long',
    );
    expect((await bot.api.sendMessage(alice.id, 'x'.repeat(4096))).text).toHaveLength(4096);
    expect(
      (await failure(bot.api.sendMessage(alice.id, '<b>open', { parse_mode: 'HTML' }))).description,
    ).toBe(`Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`);
    expect(
      (await failure(bot.api.sendMessage(alice.id, 'é <blink>', { parse_mode: 'HTML' }))).description,
    ).toBe(`Bad Request: can't parse entities: Unsupported start tag "blink" at byte offset 3`);
    expect(
      (await failure(bot.api.sendMessage(alice.id, 'x', { parse_mode: 'Weird' as 'HTML' }))).description,
    ).toBe('Bad Request: unsupported parse_mode');
    const escaped = await bot.api.sendMessage(alice.id, '1 &lt; 2 &amp;&amp; <i>ok</i>', {
      parse_mode: 'HTML',
    });
    expect([escaped.text, escaped.entities]).toEqual([
      '1 < 2 && ok',
      [{ type: 'italic', offset: 9, length: 2 }],
    ]);
  });

  it('validates inline keyboards like Telegram', async () => {
    const keyboard = (button: Record<string, unknown>) => ({ inline_keyboard: [[{ text: 'B', ...button }]] });
    const send = (markup: unknown) =>
      bot.api.sendMessage(alice.id, 'k', { reply_markup: markup as InlineKeyboard });

    expect((await send(keyboard({ callback_data: 'x'.repeat(64) }))).reply_markup).toBeDefined();
    expect((await failure(send(keyboard({ callback_data: 'x'.repeat(65) })))).description).toBe(
      'Bad Request: BUTTON_DATA_INVALID',
    );
    // 33 Cyrillic letters are 66 bytes.
    expect((await failure(send(keyboard({ callback_data: 'я'.repeat(33) })))).description).toBe(
      'Bad Request: BUTTON_DATA_INVALID',
    );
    expect((await failure(send(keyboard({})))).description).toBe(
      "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    );
    expect((await failure(send(keyboard({ url: 'http://localhost:3000/x' })))).description).toBe(
      "Bad Request: inline keyboard button URL 'http://localhost:3000/x' is invalid: Wrong HTTP URL",
    );
    expect((await failure(send(keyboard({ url: 'clash://install' })))).description).toBe(
      "Bad Request: inline keyboard button URL 'clash://install' is invalid: Unsupported URL protocol",
    );
    expect((await send(keyboard({ url: 'example.com/a' }))).reply_markup).toEqual(
      keyboard({ url: 'http://example.com/a' }),
    );
    expect((await failure(send({ inline_keyboard: [{ text: 'not a row' }] }))).description).toBe(
      'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
    );
  });

  it('answers the chat errors: empty, unknown, blocked, deactivated', async () => {
    expect((await rawCall(fake, 'sendMessage', { text: 'no chat' })).body).toEqual({
      ok: false,
      error_code: 400,
      description: DESCRIPTIONS.chatIdEmpty,
    });
    expect(await failure(bot.api.sendMessage(424242, 'who?'))).toEqual({
      error_code: 400,
      description: 'Bad Request: chat not found',
      parameters: undefined,
    });
    expect((await failure(bot.api.sendMessage('@alice', 'by name'))).description).toBe(
      'Bad Request: chat not found',
    );

    fake.blockBot(alice.id);
    expect(await failure(bot.api.sendMessage(alice.id, 'hello?'))).toMatchObject({
      error_code: 403,
      description: 'Forbidden: bot was blocked by the user',
    });
    expect((await failure(bot.api.sendChatAction(alice.id, 'typing'))).error_code).toBe(403);
    fake.unblockBot(alice.id);

    fake.deactivateUser(alice.id);
    expect(await failure(bot.api.sendMessage(alice.id, 'hello?'))).toMatchObject({
      error_code: 403,
      description: 'Forbidden: user is deactivated',
    });
  });

  it('can register unknown chats instead, when configured to', async () => {
    const lenient = await startFakeBotApi({ unknownChats: 'register' });
    try {
      const lenientBot = new Bot(lenient.token, { client: { apiRoot: lenient.apiRoot } });
      expect((await lenientBot.api.sendMessage(555, 'hi')).chat).toEqual({
        id: 555,
        type: 'private',
        first_name: 'User 555',
      });
    } finally {
      await lenient.stop();
    }
  });

  it('answers the copy, reply and edit errors', async () => {
    const mine = await bot.api.sendMessage(alice.id, 'mine');
    const theirs = fake.sendUserMessage({ from: alice, text: 'theirs' });

    expect((await failure(bot.api.copyMessage(alice.id, alice.id, 99))).description).toBe(
      'Bad Request: message to copy not found',
    );
    expect((await rawCall(fake, 'copyMessage', { chat_id: alice.id, message_id: 1 })).body.description).toBe(
      'Bad Request: parameter "from_chat_id" is required',
    );
    expect(
      (await failure(bot.api.sendMessage(alice.id, 'r', { reply_parameters: { message_id: 99 } })))
        .description,
    ).toBe('Bad Request: message to be replied not found');
    const tolerated = await bot.api.sendMessage(alice.id, 'r', {
      reply_parameters: { message_id: 99, allow_sending_without_reply: true },
    });
    expect(tolerated.reply_to_message).toBeUndefined();

    expect((await failure(bot.api.editMessageText(alice.id, 99, 'x'))).description).toBe(
      'Bad Request: message to edit not found',
    );
    expect((await failure(bot.api.editMessageText(alice.id, theirs.message_id, 'x'))).description).toBe(
      "Bad Request: message can't be edited",
    );
    expect(await failure(bot.api.editMessageText(alice.id, mine.message_id, 'mine'))).toEqual({
      error_code: 400,
      description:
        'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
      parameters: undefined,
    });
    expect((await failure(bot.api.editMessageReplyMarkup(alice.id, mine.message_id))).description).toBe(
      DESCRIPTIONS.messageNotModified,
    );
    expect((await rawCall(fake, 'editMessageText', { text: 'x' })).body.description).toBe(
      'Bad Request: message identifier is not specified',
    );
  });

  it('answers callback queries once, within the answer window', async () => {
    const menu = await bot.api.sendMessage(alice.id, 'Menu', {
      reply_markup: new InlineKeyboard().text('Go', 'go'),
    });
    const first = fake.pressButton({ from: alice, messageId: menu.message_id, data: 'go' });
    expect(await bot.api.answerCallbackQuery(first, { text: 'Going', show_alert: true })).toBe(true);
    expect(fake.answeredCallbackQueries()[0]?.answer).toEqual({
      text: 'Going',
      showAlert: true,
      cacheTime: 0,
      answeredAt: clock.now(),
    });
    expect((await failure(bot.api.answerCallbackQuery(first))).description).toBe(DESCRIPTIONS.queryTooOld);
    expect(await failure(bot.api.answerCallbackQuery('123'))).toEqual({
      error_code: 400,
      description: 'Bad Request: query is too old and response timeout expired or query ID is invalid',
      parameters: undefined,
    });
    const late = fake.pressButton({ from: alice, messageId: menu.message_id, data: 'go' });
    clock.advance(16_000);
    expect((await failure(bot.api.answerCallbackQuery(late))).description).toBe(DESCRIPTIONS.queryTooOld);
  });

  it('stores commands per scope and language', async () => {
    fake.addChat(bob.id, { user: bob });
    await bot.api.setMyCommands([{ command: 'start', description: 'Start' }]);
    await bot.api.setMyCommands(
      [
        { command: 'start', description: 'Start' },
        { command: 'purge', description: 'Admin: purge' },
      ],
      { scope: { type: 'chat', chat_id: bob.id } },
    );
    await bot.api.setMyCommands([{ command: 'start', description: 'Начать' }], { language_code: 'ru' });
    expect(fake.commands()).toEqual([{ command: 'start', description: 'Start' }]);
    expect(fake.commands({ type: 'chat', chat_id: bob.id }).map((c) => c.command)).toEqual([
      'start',
      'purge',
    ]);
    expect(await bot.api.getMyCommands({ scope: { type: 'chat', chat_id: bob.id } })).toHaveLength(2);
    expect(await bot.api.getMyCommands({ language_code: 'ru' })).toEqual([
      { command: 'start', description: 'Начать' },
    ]);
    await bot.api.deleteMyCommands({ scope: { type: 'chat', chat_id: bob.id } });
    expect(fake.commands({ type: 'chat', chat_id: bob.id })).toEqual([]);

    expect(
      (await failure(bot.api.setMyCommands([{ command: 'Bad Command', description: 'x' }]))).description,
    ).toBe('Bad Request: BOT_COMMAND_INVALID');
    expect((await failure(bot.api.setMyCommands([{ command: 'ok', description: '' }]))).description).toBe(
      'Bad Request: command description must be non-empty',
    );
    expect(
      (await failure(bot.api.setMyCommands([], { scope: { type: 'chat', chat_id: 999 } }))).description,
    ).toBe('Bad Request: chat not found');
    expect(
      (await failure(bot.api.setMyCommands([], { scope: { type: 'nonsense' } as never }))).description,
    ).toBe("Bad Request: can't parse BotCommandScope: Unsupported type specified");
  });

  it('checks sendChatAction actions', async () => {
    expect(await bot.api.sendChatAction(alice.id, 'typing')).toBe(true);
    expect((await failure(bot.api.sendChatAction(alice.id, 'dancing' as 'typing'))).description).toBe(
      'Bad Request: wrong parameter action in request',
    );
  });

  it('answers token, method and upload errors like api.telegram.org', async () => {
    expect(await rawCall(fake, 'getMe', {}, { token: '123456:wrong-secret' })).toEqual({
      status: 401,
      body: { ok: false, error_code: 401, description: 'Unauthorized' },
    });
    expect((await rawCall(fake, 'getMe', {}, { token: '0:abc' })).body.description).toBe(
      'Unauthorized: invalid token specified',
    );
    expect(await rawCall(fake, 'getMe', {}, { token: 'no-colon' })).toEqual({
      status: 404,
      body: { ok: false, error_code: 404, description: 'Not Found' },
    });
    const wrongBot = new Bot('123456:wrong-secret', { client: { apiRoot: fake.apiRoot } });
    expect(await failure(wrongBot.api.getMe())).toEqual({
      error_code: 401,
      description: 'Unauthorized',
      parameters: undefined,
    });

    expect(await rawCall(fake, 'sendPoll', { chat_id: alice.id })).toEqual({
      status: 404,
      body: { ok: false, error_code: 404, description: 'Not Found' },
    });
    fake.disableMethod('deleteMessages');
    expect(await failure(bot.api.deleteMessages(alice.id, [1]))).toEqual({
      error_code: 404,
      description: 'Not Found',
      parameters: undefined,
    });
    fake.enableMethod('deleteMessages');
    expect(await bot.api.deleteMessages(alice.id, [1])).toBe(true);

    const upload = await rawCall(
      fake,
      'sendPhoto',
      {},
      { headers: { 'content-type': 'multipart/form-data' }, body: '--x--' },
    );
    // Multipart is read (see documents.test.ts); an empty form reaches the method without a chat.
    expect(upload.status).toBe(400);
    expect(upload.body.description).toBe('Bad Request: multipart/form-data without a boundary');
  });

  it('records every call with its parameters and status', async () => {
    await bot.api.sendMessage(alice.id, 'one');
    await grammyError(bot.api.sendMessage(1, 'two'));
    expect(
      fake.calls.map(({ method, params, status, ok, time }) => ({ method, params, status, ok, time })),
    ).toEqual([
      {
        method: 'sendMessage',
        params: { chat_id: alice.id, text: 'one' },
        status: 200,
        ok: true,
        time: clock.now(),
      },
      {
        method: 'sendMessage',
        params: { chat_id: 1, text: 'two' },
        status: 400,
        ok: false,
        time: clock.now(),
      },
    ]);
    expect(fake.callCount('sendMessage')).toBe(2);
    expect(fake.callCount()).toBe(2);
    fake.resetCalls();
    expect(fake.calls).toEqual([]);
  });
});
