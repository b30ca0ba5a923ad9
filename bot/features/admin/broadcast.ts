import { Composer } from 'grammy';
import type { ObjectId } from 'mongodb';
import type { BotContext, BotDeps } from '../../context.js';
import { formatTime } from '../../services/content.js';
import { parseDuration, safeMaximumNote } from '../../validation.js';
import type { AdminFeature } from './feature.js';

/** /broadcast <duration>, as a reply to the message to send. */
export const broadcastFeature: AdminFeature = {
  commands: [
    {
      command: 'broadcast',
      description: 'Reply to a message: send it to every user for a duration, e.g. 6h',
    },
  ],
  create: (deps) => broadcastComposer(deps),
};

function broadcastComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command('broadcast', async (ctx) => {
    const usage = 'Reply to the message to send with /broadcast <how long it stays>, e.g. /broadcast 6h';
    const replied = ctx.message?.reply_to_message;
    if (!replied) {
      await ctx.reply(usage);
      return;
    }
    // Telegram cannot delete messages older than 48 hours, so a broadcast cannot outlive that,
    // less the broadcast deleter's schedule (as it is now).
    const maxMinutes = deps.deletionLimits.maxMinutes('broadcasts');
    const parsed = parseDuration(ctx.match, { minMinutes: 1, maxMinutes });
    if (!parsed.ok) {
      await ctx.reply(`${parsed.message}\n${safeMaximumNote(maxMinutes)}\n${usage}`);
      return;
    }
    const deleteAt = new Date(ctx.now.getTime() + parsed.value * 60_000);
    let started: { broadcastId: ObjectId; total: number };
    try {
      started = await deps.broadcaster.start({
        adminId: ctx.from?.id ?? 0,
        adminChatId: ctx.chat.id,
        sourceChatId: ctx.chat.id,
        sourceMessageId: replied.message_id,
        deleteAt,
      });
    } catch (error) {
      ctx.log.error({ err: error }, 'broadcast could not start');
      await ctx.reply(
        'The broadcast could not start (the database or Telegram failed); nothing was sent. Try again.',
      );
      return;
    }
    const { broadcastId, total } = started;
    ctx.log.info({ broadcastId: broadcastId.toHexString(), total, deleteAt }, 'broadcast started');
    await ctx.reply(
      `Sending to ${total} users in the background; the copies will be deleted at ${formatTime(deleteAt, deps.timezone)}.`,
    );
  });
  return composer;
}
