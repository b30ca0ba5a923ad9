import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../context.js';
import { parseStartPayload } from '../links.js';
import { formatTime } from '../services/content.js';
import { countDaily } from '../services/daily-stats.js';
import { requestContent } from './delivery.js';

const VERIFY_REFUSALS = {
  not_found: 'This verification link is not valid. Open the content link again to get a new one.',
  other_user:
    'This verification link was made for someone else. Open the content link yourself to get your own.',
  expired: 'This verification link has expired. Open the content link again to get a new one.',
  already_used: 'This verification link was already used.',
} as const;

/** /start: registration, greeting, and the two kinds of deep links (content and verification). */
export function startFeature(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const privateChats = composer.chatType('private');

  privateChats.command('start', async (ctx) => {
    const { created } = await deps.repos.users.upsertFromTelegram(ctx.from, ctx.chat.id, ctx.now);
    if (created) {
      ctx.log.info({ userId: ctx.from.id }, 'new user');
      await countDaily({ stats: deps.repos.stats, timezone: deps.timezone, logger: ctx.log }, ctx.now, {
        counts: { users_new: 1 },
      });
    }
    const payload = parseStartPayload(ctx.match);
    switch (payload.kind) {
      case 'none':
        await ctx.reply(
          `Hello, ${ctx.from.first_name}! Open a content link to get content here. It deletes itself after a while; the message left in its place brings it back.`,
        );
        return;
      case 'invalid':
        await ctx.reply(`This link is not valid (${payload.reason}). Ask for a new link.`);
        return;
      case 'content':
        await requestContent(ctx, deps, payload.contentId);
        return;
      case 'verify': {
        const { outcome, doc } = await deps.access.verify(payload.token, ctx.from.id, ctx.now);
        if (outcome !== 'verified') {
          ctx.log.info({ userId: ctx.from.id, outcome }, 'verification refused');
          await ctx.reply(VERIFY_REFUSALS[outcome]);
          return;
        }
        await ctx.reply(
          `✅ Verified. You have access until ${formatTime(doc?.expires_at ?? ctx.now, deps.timezone)}.`,
        );
        if (doc?.content_id) await requestContent(ctx, deps, doc.content_id);
        return;
      }
    }
  });

  privateChats.command('help', (ctx) =>
    ctx.reply(
      'Open a content link to get content. If you are asked to verify, tap the verification link; access then lasts a while. Delivered content deletes itself; tap “Click Here” on the note left behind to get it again.',
    ),
  );

  return composer;
}
