import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../context.js';
import { countDaily } from '../services/daily-stats.js';

/**
 * Telegram tells the bot when a user blocks it (status `kicked`) or unblocks it: blocked users
 * are skipped by broadcasts until they come back.
 */
export function membershipFeature(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.chatType('private').on('my_chat_member', async (ctx) => {
    const status = ctx.myChatMember.new_chat_member.status;
    const userId = ctx.myChatMember.from.id;
    if (status === 'kicked') {
      const newlyBlocked = await deps.repos.users.markBlocked(userId, ctx.now);
      ctx.log.info({ userId }, 'user blocked the bot');
      if (newlyBlocked) {
        await countDaily({ stats: deps.repos.stats, timezone: deps.timezone, logger: ctx.log }, ctx.now, {
          counts: { users_blocked: 1 },
        });
      }
    } else if (status === 'member') {
      await deps.repos.users.markUnblocked(userId);
      ctx.log.info({ userId }, 'user unblocked the bot');
    }
  });
  return composer;
}
