import type { BotContext, BotDeps } from '../context.js';
import { ContentUnavailableError, formatTime } from '../services/content.js';
import { countDaily } from '../services/daily-stats.js';

/**
 * Gives a user the content behind a link if they have access; otherwise a verification link
 * (within the daily allowance). Shared by content links, the notice's "Click Here" button and the
 * end of a successful verification.
 */
export async function requestContent(ctx: BotContext, deps: BotDeps, contentId: string): Promise<void> {
  const user = ctx.from;
  const chatId = ctx.chat?.id;
  if (!user || chatId === undefined) return;
  const content = await deps.content.find(contentId);
  if (!content) {
    await ctx.reply('This link does not lead to any content: it may have been removed. Ask for a new link.');
    return;
  }
  const access = await deps.access.currentAccess(user.id, ctx.now);
  if (!access) {
    const issued = await deps.access.issue(user.id, ctx.now, ctx.me.username, contentId);
    if (issued.kind === 'limit_reached' && issued.limit === 0) {
      await ctx.reply('New verification links are not being issued at the moment. Please try again later.');
      return;
    }
    if (issued.kind === 'limit_reached') {
      ctx.log.info({ userId: user.id, limit: issued.limit }, 'daily verification limit reached');
      await ctx.reply(
        `You have used all ${issued.limit} verification links for today. The limit resets at midnight (${deps.timezone}); please try again then.`,
      );
      return;
    }
    await ctx.reply(
      [
        '🔐 To open this content, verify first: tap the link below.',
        issued.link,
        `The link is valid until ${formatTime(issued.expiresAt, deps.timezone)}. Links used today: ${issued.usedToday} of ${issued.limit}.`,
      ].join('\n'),
      { link_preview_options: { is_disabled: true } },
    );
    return;
  }
  try {
    await deps.content.deliver({
      api: ctx.api,
      content,
      userId: user.id,
      chatId,
      now: ctx.now,
      deleteAfterMinutes: await deps.deleteTime.minutes(),
      timezone: deps.timezone,
    });
  } catch (error) {
    return reportFailedDelivery(ctx, contentId, error);
  }
  await countDaily({ stats: deps.repos.stats, timezone: deps.timezone, logger: ctx.log }, ctx.now, {
    counts: { deliveries: 1 },
  });
}

async function reportFailedDelivery(ctx: BotContext, contentId: string, error: unknown): Promise<void> {
  if (error instanceof ContentUnavailableError) {
    ctx.log.warn({ contentId }, 'saved content is no longer available to copy');
    await ctx.reply('Sorry, this content is no longer available.');
    return;
  }
  // Telegram or the database failed mid-delivery: nothing was left behind (see deliver()).
  ctx.log.error({ err: error, contentId }, 'content could not be delivered');
  await ctx.reply(
    'Sorry, the content could not be delivered just now. Please open the link again in a moment.',
  );
}
