import { Composer } from 'grammy';
import type { BotContext, BotDeps } from '../../context.js';
import { args } from '../../validation.js';
import type { AdminFeature } from './feature.js';

/** /stats: the numbers an admin asks about first. */
export const statsFeature: AdminFeature = {
  commands: [{ command: 'stats', description: 'Users, tokens, pending deletions and broadcasts' }],
  create: (deps) => statsComposer(deps),
};

function statsComposer(deps: BotDeps): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command('stats', async (ctx) => {
    if (args(ctx.match).length > 0) {
      await ctx.reply('/stats takes no arguments.');
      return;
    }
    const { repos } = deps;
    const [users, tokens, pending, due, oldest, broadcasts] = await Promise.all([
      repos.users.counts(),
      repos.tokens.countByStatus(),
      repos.pendingDeletions.countAll(),
      repos.pendingDeletions.countDue(ctx.now),
      repos.pendingDeletions.oldestDue(ctx.now),
      repos.broadcasts.countActive(ctx.now),
    ]);
    const lag = oldest
      ? `; oldest overdue by ${Math.round((ctx.now.getTime() - oldest.delete_at.getTime()) / 1000)} s`
      : '';
    await ctx.reply(
      [
        '📊 Stats',
        `Users: ${users.active} active, ${users.blocked} blocked`,
        `Tokens: ${tokens.unused} unused, ${tokens.verified} verified, ${tokens.bypassed} bypassed`,
        `Pending deletions: ${pending} (${due} due now${lag})`,
        `Active broadcasts: ${broadcasts}`,
      ].join('\n'),
    );
  });
  return composer;
}
