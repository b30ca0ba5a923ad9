import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS } from '../index.js';
import { alice, grammyError, rawCall, useFakeWithBot } from './helpers.js';

const HOUR_MS = 60 * 60 * 1000;

describe('fake Bot API: deleting messages', () => {
  const { clock, fake, bot } = useFakeWithBot({ chats: [alice] });

  async function description(call: Promise<unknown>): Promise<[number, string]> {
    const error = await grammyError(call);
    return [error.error_code, error.description];
  }

  it('deletes messages younger than 48 hours, from the bot or from the user', async () => {
    const fromBot = await bot.api.sendMessage(alice.id, 'bot');
    const fromUser = fake.sendUserMessage({ from: alice, text: 'user' });
    clock.advance(48 * HOUR_MS - 1000);
    expect(await bot.api.deleteMessage(alice.id, fromBot.message_id)).toBe(true);
    expect(await bot.api.deleteMessage(alice.id, fromUser.message_id)).toBe(true);
    expect(fake.messages(alice.id)).toEqual([]);
  });

  it("refuses messages 48 hours old: Telegram's 'can't be deleted for everyone'", async () => {
    const sent = await bot.api.sendMessage(alice.id, 'expiring');
    clock.advance(48 * HOUR_MS);
    expect(await description(bot.api.deleteMessage(alice.id, sent.message_id))).toEqual([
      400,
      "Bad Request: message can't be deleted for everyone",
    ]);
    expect(fake.messages(alice.id)).toHaveLength(1);
  });

  it('dates sent messages by the injected clock and refuses them exactly when it reaches date + 48 h', async () => {
    // 700 ms into a second, so the test shows the rule counts from Message.date, a whole second.
    clock.advance(1700 - (clock.now() % 1000));
    const sent: number[] = [];
    for (const text of ['one', 'two', 'three']) {
      const message = await bot.api.sendMessage(alice.id, text);
      expect(message.date).toBe(clock.seconds());
      sent.push(message.message_id);
    }
    const [first, second, third] = sent;
    const limitMs = (clock.seconds() + 48 * 60 * 60) * 1000;

    clock.advance(limitMs - 1000 - clock.now());
    expect(await bot.api.deleteMessage(alice.id, first ?? 0)).toBe(true);
    clock.advance(999);
    expect(await bot.api.deleteMessages(alice.id, [second ?? 0])).toBe(true);
    clock.advance(1);
    expect(clock.now()).toBe(limitMs);
    expect(await description(bot.api.deleteMessage(alice.id, third ?? 0))).toEqual([
      400,
      "Bad Request: message can't be deleted for everyone",
    ]);
    expect(await description(bot.api.deleteMessages(alice.id, [third ?? 0]))).toEqual([
      400,
      DESCRIPTIONS.messageCantBeDeletedForEveryone,
    ]);
    expect(fake.messages(alice.id).map((message) => message.message_id)).toEqual([third]);
  });

  it('seeds messages with an old date', async () => {
    const [old] = fake.seedMessages(alice.id, 1, { date: clock.seconds() - 49 * 60 * 60 });
    const [fresh] = fake.seedMessages(alice.id, ['fresh']);
    expect([old, fresh]).toEqual([1, 2]);
    expect((await description(bot.api.deleteMessage(alice.id, old ?? 0)))[1]).toBe(
      DESCRIPTIONS.messageCantBeDeletedForEveryone,
    );
    expect(await bot.api.deleteMessage(alice.id, fresh ?? 0)).toBe(true);
  });

  it('answers "message to delete not found" for unknown and already deleted ids, deleting once', async () => {
    const sent = await bot.api.sendMessage(alice.id, 'once');
    clock.advance(5000);
    await bot.api.deleteMessage(alice.id, sent.message_id);
    const deletedAt = clock.now();
    clock.advance(5000);
    expect(await description(bot.api.deleteMessage(alice.id, sent.message_id))).toEqual([
      400,
      'Bad Request: message to delete not found',
    ]);
    expect(await description(bot.api.deleteMessage(alice.id, 777))).toEqual([
      400,
      DESCRIPTIONS.messageToDeleteNotFound,
    ]);
    expect(fake.chat(alice.id).deleted).toEqual([
      { message: expect.objectContaining({ text: 'once' }), deletedAt },
    ]);
  });

  it('answers missing identifiers and unknown chats', async () => {
    expect((await rawCall(fake, 'deleteMessage', { message_id: 1 })).body.description).toBe(
      'Bad Request: chat identifier is not specified',
    );
    expect((await rawCall(fake, 'deleteMessage', { chat_id: alice.id })).body.description).toBe(
      'Bad Request: message identifier is not specified',
    );
    expect(await description(bot.api.deleteMessage(31337, 1))).toEqual([400, 'Bad Request: chat not found']);
  });

  it('deletes in a chat whose user blocked the bot: only sending answers 403 there', async () => {
    const sent: number[] = [];
    for (const text of ['one', 'two', 'three'])
      sent.push((await bot.api.sendMessage(alice.id, text)).message_id);
    const [first, second, third] = sent;
    const [old] = fake.seedMessages(alice.id, 1, { date: clock.seconds() - 48 * 60 * 60 });
    fake.blockBot(alice.id);
    expect(await description(bot.api.sendMessage(alice.id, 'still there?'))).toEqual([
      403,
      DESCRIPTIONS.botBlocked,
    ]);

    expect(await bot.api.deleteMessage(alice.id, first ?? 0)).toBe(true);
    expect(await bot.api.deleteMessages(alice.id, [second ?? 0, 404])).toBe(true);
    // The other deletion rules still apply.
    expect(await description(bot.api.deleteMessage(alice.id, first ?? 0))).toEqual([
      400,
      DESCRIPTIONS.messageToDeleteNotFound,
    ]);
    expect(await description(bot.api.deleteMessage(alice.id, old ?? 0))).toEqual([
      400,
      DESCRIPTIONS.messageCantBeDeletedForEveryone,
    ]);
    expect(await description(bot.api.deleteMessages(alice.id, [third ?? 0, old ?? 0]))).toEqual([
      400,
      DESCRIPTIONS.messageCantBeDeletedForEveryone,
    ]);
    expect(fake.messages(alice.id).map((message) => message.message_id)).toEqual([third, old]);
  });

  it('refuses every deletion in a chat whose user was deactivated', async () => {
    const sent = await bot.api.sendMessage(alice.id, 'x');
    fake.deactivateUser(alice.id);
    expect(await description(bot.api.deleteMessage(alice.id, sent.message_id))).toEqual([
      403,
      'Forbidden: user is deactivated',
    ]);
    expect(await description(bot.api.deleteMessages(alice.id, [sent.message_id]))).toEqual([
      403,
      DESCRIPTIONS.userDeactivated,
    ]);
    expect(fake.messages(alice.id)).toHaveLength(1);
  });

  describe('deleteMessages', () => {
    it('skips ids that cannot be found and deletes the rest', async () => {
      const ids = fake.seedMessages(alice.id, 3);
      await bot.api.deleteMessage(alice.id, ids[1] ?? 0);
      clock.advance(1000);
      expect(await bot.api.deleteMessages(alice.id, [...ids, 99, ids[0] ?? 0])).toBe(true);
      expect(fake.messages(alice.id)).toEqual([]);
      expect(fake.chat(alice.id).deleted.map((entry) => entry.message.message_id)).toEqual([2, 1, 3]);
      expect(await bot.api.deleteMessages(alice.id, [500, 501])).toBe(true);
    });

    it('takes 1 to 100 identifiers', async () => {
      const ids = fake.seedMessages(alice.id, 100);
      expect(await description(bot.api.deleteMessages(alice.id, []))).toEqual([
        400,
        'Bad Request: message identifiers are not specified',
      ]);
      expect(await description(bot.api.deleteMessages(alice.id, [...ids, 101]))).toEqual([
        400,
        'Bad Request: too many message identifiers specified',
      ]);
      expect(fake.messageCounts(alice.id).visible).toBe(100);
      expect(await bot.api.deleteMessages(alice.id, ids)).toBe(true);
      expect(fake.messageCounts(alice.id)).toEqual({ chats: 1, visible: 0, deleted: 100 });
      expect((await rawCall(fake, 'deleteMessages', { chat_id: alice.id })).body.description).toBe(
        DESCRIPTIONS.messageIdentifiersNotSpecified,
      );
      expect(
        (await rawCall(fake, 'deleteMessages', { chat_id: alice.id, message_ids: [0] })).body.description,
      ).toBe('Bad Request: invalid message identifier specified');
    });

    it('deletes nothing when one found message is past the 48-hour window', async () => {
      const [old] = fake.seedMessages(alice.id, 1, { date: clock.seconds() - 48 * 60 * 60 });
      const fresh = fake.seedMessages(alice.id, 2);
      expect(await description(bot.api.deleteMessages(alice.id, [...fresh, old ?? 0]))).toEqual([
        400,
        DESCRIPTIONS.messageCantBeDeletedForEveryone,
      ]);
      expect(fake.messageCounts(alice.id)).toEqual({ chats: 1, visible: 3, deleted: 0 });
    });
  });
});
