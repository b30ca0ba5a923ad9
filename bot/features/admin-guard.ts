import { Composer } from 'grammy';
import type { BotContext } from '../context.js';

export const ADMIN_COMMANDS = [
  { command: 'save', description: 'Reply to a message to save it and get its share link' },
  { command: 'setdeletetime', description: 'Set how long delivered content stays, e.g. 30m or 1h30m' },
  { command: 'deletetime', description: 'Show how long delivered content stays' },
  { command: 'broadcast', description: 'Reply to a message: send it to every user for a duration, e.g. 6h' },
  { command: 'tasks', description: 'Scheduled jobs: state, last and next run, controls' },
  { command: 'run', description: 'Run a job now, e.g. /run token-cleanup' },
  { command: 'stats', description: 'Users, tokens, pending deletions and broadcasts' },
  { command: 'bypass', description: 'Grant access without verification: /bypass <user_id> [days]' },
] as const;

export const ADMIN_CALLBACK = /^task:/;

/**
 * Stops admin commands and admin buttons from anyone not in ADMIN_IDS: a short refusal, a log
 * line, and nothing else happens.
 */
export function adminGuard(): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command(
    ADMIN_COMMANDS.map((entry) => entry.command),
    async (ctx, next) => {
      if (ctx.isAdmin) return next();
      ctx.log.warn(
        { userId: ctx.from?.id, command: ctx.message?.text?.split(/\s/)[0] },
        'refused an admin command from a non-admin',
      );
      await ctx.reply('Sorry, that command is for admins only.');
    },
  );
  composer.callbackQuery(ADMIN_CALLBACK, async (ctx, next) => {
    if (ctx.isAdmin) return next();
    ctx.log.warn(
      { userId: ctx.from.id, data: ctx.callbackQuery.data.slice(0, 64) },
      'refused an admin button from a non-admin',
    );
    await ctx.answerCallbackQuery({ text: 'Admins only.' });
  });
  return composer;
}
