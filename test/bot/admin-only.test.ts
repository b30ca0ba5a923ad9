import { Bot, Composer } from 'grammy';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BotContext, BotDeps } from '../../bot/context.js';
import { updateFacts } from '../../bot/create-bot.js';
import { type AdminFeature, adminCommands, adminOnly } from '../../bot/features/admin/index.js';
import { captureLogs } from '../support/logs.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

const ADMIN = { id: 11, first_name: 'Ada' };
const OTHER = { id: 12, first_name: 'Eve' };

/**
 * Admin features are denied by default: a command an admin feature handles is unreachable for
 * non-admins even when nobody listed it anywhere (#11).
 */
describe('admin features behind the admin filter', () => {
  const fake = useFakeBotApi('file');
  const ran: number[] = [];
  // A new admin feature whose author forgot every list: no `commands`, no callbacks pattern.
  const unlisted: AdminFeature = {
    commands: [],
    create: () => {
      const composer = new Composer<BotContext>();
      composer.command('purge', async (ctx) => {
        ran.push(ctx.from?.id ?? 0);
        await ctx.reply('purged');
      });
      composer.callbackQuery(/^purge:/, async (ctx) => {
        ran.push(ctx.from.id);
        await ctx.answerCallbackQuery({ text: 'purged' });
      });
      return composer;
    },
  };

  beforeAll(async () => {
    fake.addChat(ADMIN.id, { user: ADMIN });
    fake.addChat(OTHER.id, { user: OTHER });
  });

  async function deliver(bot: Bot<BotContext>): Promise<void> {
    const updates = await bot.api.getUpdates({ timeout: 0 });
    for (const update of updates) await bot.handleUpdate(update);
    if (updates.length > 0)
      await bot.api.getUpdates({ offset: (updates.at(-1)?.update_id ?? 0) + 1, timeout: 0 });
  }

  function botWith(features: readonly AdminFeature[]): Bot<BotContext> {
    const bot = new Bot<BotContext>(fake.token, { client: { apiRoot: fake.apiRoot }, botInfo: fake.botInfo });
    const deps = {
      adminIds: [ADMIN.id],
      clock: () => new Date(),
      logger: captureLogs().logger,
    } as unknown as BotDeps;
    bot.use(updateFacts(deps));
    bot.use(adminOnly(deps, features));
    return bot;
  }

  it('an admin command nobody listed is still refused to non-admins, and works for admins', async () => {
    const bot = botWith([unlisted]);
    fake.sendUserMessage({ from: OTHER, text: '/purge' });
    // A button of the feature's that somehow reached a non-admin (a forwarded menu, say).
    const menu = await bot.api.sendMessage(OTHER.id, 'menu', {
      reply_markup: { inline_keyboard: [[{ text: 'Purge', callback_data: 'purge:all' }]] },
    });
    fake.pressButton({ from: OTHER, messageId: menu.message_id, data: 'purge:all' });
    await deliver(bot);
    expect(ran).toEqual([]);
    expect(
      fake
        .messages(OTHER.id)
        .filter((message) => message.from?.is_bot)
        .map((m) => m.text),
    ).toEqual(['menu']);

    fake.sendUserMessage({ from: ADMIN, text: '/purge' });
    await deliver(bot);
    expect(ran).toEqual([ADMIN.id]);
    expect(fake.lastBotMessage(ADMIN.id)?.text).toBe('purged');
  });

  it('the admin menu and the refusal read the same list: the commands the features declare', async () => {
    expect(adminCommands().map((entry) => entry.command)).toEqual([
      'save',
      'setdeletetime',
      'deletetime',
      'bypass',
      'broadcast',
      'tasks',
      'run',
      'schedule',
      'stats',
      'digest',
    ]);
    const listed: AdminFeature = {
      commands: [{ command: 'purge', description: 'Purge' }],
      create: unlisted.create,
    };
    const bot = botWith([listed]);
    fake.sendUserMessage({ from: OTHER, text: '/purge now' });
    await deliver(bot);
    expect(ran).toEqual([ADMIN.id]);
    expect(fake.lastBotMessage(OTHER.id)?.text).toBe('Sorry, that command is for admins only.');
  });
});
