import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../../context.js';
import { MIN_DELETE_MINUTES } from '../../services/delete-time.js';
import {
  args,
  formatMinutes,
  parseDays,
  parseDuration,
  parseUserId,
  safeMaximumNote,
} from '../../validation.js';
import type { AdminFeature } from './feature.js';

/** /save, /setdeletetime, /deletetime and /bypass. */
export const contentFeature: AdminFeature = {
  commands: [
    { command: 'save', description: 'Reply to a message to save it and get its share link' },
    { command: 'setdeletetime', description: 'Set how long delivered content stays, e.g. 30m or 1h30m' },
    { command: 'deletetime', description: 'Show how long delivered content stays' },
    { command: 'bypass', description: 'Grant access without verification: /bypass <user_id> [days]' },
  ],
  create: (deps) => contentComposer(deps),
};

function contentComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.command('save', async (ctx) => {
    const replied = ctx.message?.reply_to_message;
    if (args(ctx.match).length > 0 || !replied) {
      await ctx.reply('Reply /save (with nothing after it) to the message you want to share.');
      return;
    }
    const saved = await deps.content.save({
      chatId: ctx.chat.id,
      messageId: replied.message_id,
      adminId: ctx.from?.id ?? 0,
      now: ctx.now,
      botUsername: ctx.me.username,
    });
    ctx.log.info({ contentId: saved.id, adminId: ctx.from?.id }, 'content saved');
    await ctx.reply(`Saved. Share this link:\n${saved.link}`, {
      link_preview_options: { is_disabled: true },
    });
  });

  composer.command('setdeletetime', async (ctx) => {
    const maxMinutes = deps.deleteTime.maxMinutes;
    const parsed = parseDuration(ctx.match, { minMinutes: MIN_DELETE_MINUTES, maxMinutes });
    if (!parsed.ok) {
      await ctx.reply(`${parsed.message}\n${safeMaximumNote(maxMinutes)}\nExample: /setdeletetime 30m`);
      return;
    }
    await deps.deleteTime.set(parsed.value, ctx.now, ctx.from?.id ?? 0);
    ctx.log.info({ minutes: parsed.value, adminId: ctx.from?.id }, 'delete time changed');
    await ctx.reply(`Done: content will be deleted ${formatMinutes(parsed.value)} after it is delivered.`);
  });

  composer.command('deletetime', async (ctx) => {
    if (args(ctx.match).length > 0) {
      await ctx.reply('/deletetime takes no arguments. To change it: /setdeletetime 30m');
      return;
    }
    await ctx.reply(
      `Content is deleted ${formatMinutes(await deps.deleteTime.minutes())} after it is delivered.\n${safeMaximumNote(deps.deleteTime.maxMinutes)}`,
    );
  });

  composer.command('bypass', async (ctx) => {
    const [rawUser, rawDays, ...extra] = args(ctx.match);
    const usage = 'Usage: /bypass <user_id> [days], e.g. /bypass 123456789 7';
    if (rawUser === undefined || extra.length > 0) {
      await ctx.reply(usage);
      return;
    }
    const userId = parseUserId(rawUser);
    if (!userId.ok) {
      await ctx.reply(`${userId.message}\n${usage}`);
      return;
    }
    const days = rawDays === undefined ? undefined : parseDays(rawDays, 365);
    if (days && !days.ok) {
      await ctx.reply(`${days.message}\n${usage}`);
      return;
    }
    const expiresAt = await deps.access.bypass(userId.value, ctx.from?.id ?? 0, ctx.now, days?.value);
    ctx.log.info({ userId: userId.value, adminId: ctx.from?.id, expiresAt }, 'access granted by bypass');
    await ctx.reply(
      `User ${userId.value} has access until ${expiresAt.toISOString().replace('.000Z', 'Z')} (bypass).`,
    );
  });

  return composer;
}
