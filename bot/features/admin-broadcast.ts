import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../context.js';
import { formatTime } from '../services/content.js';
import { MAX_DELETE_MINUTES } from '../services/delete-time.js';
import { parseDuration } from '../validation.js';

/** /broadcast <duration>, as a reply to the message to send. */
export function adminBroadcastFeature(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command('broadcast', async (ctx) => {
    const usage = 'Reply to the message to send with /broadcast <how long it stays>, e.g. /broadcast 6h';
    const replied = ctx.message?.reply_to_message;
    if (!replied) {
      await ctx.reply(usage);
      return;
    }
    // Telegram cannot delete messages older than 48 hours, so a broadcast cannot outlive that.
    const parsed = parseDuration(ctx.match, { minMinutes: 1, maxMinutes: MAX_DELETE_MINUTES });
    if (!parsed.ok) {
      await ctx.reply(`${parsed.message}\n${usage}`);
      return;
    }
    const deleteAt = new Date(ctx.now.getTime() + parsed.value * 60_000);
    const { broadcastId, total } = await deps.broadcaster.start({
      adminId: ctx.from?.id ?? 0,
      adminChatId: ctx.chat.id,
      sourceChatId: ctx.chat.id,
      sourceMessageId: replied.message_id,
      deleteAt,
    });
    ctx.log.info({ broadcastId: broadcastId.toHexString(), total, deleteAt }, 'broadcast started');
    await ctx.reply(
      `Sending to ${total} users in the background; the copies will be deleted at ${formatTime(deleteAt, deps.config.scheduler.timezone)}.`,
    );
  });
  return composer;
}
