import { Bot } from 'grammy';
import type { Logger } from 'pino';
import type { BotContext, BotDeps } from './context.js';
import { adminBroadcastFeature } from './features/admin-broadcast.js';
import { adminContentFeature } from './features/admin-content.js';
import { adminGuard } from './features/admin-guard.js';
import { adminStatsFeature } from './features/admin-stats.js';
import { adminTasksFeature } from './features/admin-tasks.js';
import { membershipFeature } from './features/membership.js';
import { startFeature } from './features/start.js';
import { type ApiPolicy, applyInteractivePolicy } from './telegram/api.js';

export interface BotOptions {
  token: string;
  apiRoot: string;
  policy: ApiPolicy;
  logger: Logger;
}

/**
 * The grammY bot with the process-wide call pipeline (its `bot.api` is the interactive lane:
 * replies to users' own updates) and an error boundary, but no features yet.
 */
export function createBot(options: BotOptions): Bot<BotContext> {
  const bot = new Bot<BotContext>(options.token, { client: { apiRoot: options.apiRoot } });
  applyInteractivePolicy(bot.api, options.policy);
  bot.catch((error) => {
    // One failed update must not stop the bot; grammY keeps polling after this.
    options.logger.error({ err: error.error, updateId: error.ctx.update.update_id }, 'update handler failed');
  });
  return bot;
}

export function installFeatures(bot: Bot<BotContext>, deps: BotDeps): void {
  const admins = new Set(deps.adminIds);
  bot.use((ctx, next) => {
    ctx.now = deps.clock();
    ctx.isAdmin = ctx.from !== undefined && admins.has(ctx.from.id);
    ctx.log = deps.logger.child({ updateId: ctx.update.update_id, userId: ctx.from?.id });
    return next();
  });
  bot.use(membershipFeature(deps));
  bot.use(startFeature(deps));
  bot.use(adminGuard());
  bot.use(adminContentFeature(deps));
  bot.use(adminBroadcastFeature(deps));
  bot.use(adminTasksFeature(deps));
  bot.use(adminStatsFeature(deps));
  // Buttons from old messages or crafted callback data: answer, so the client stops spinning.
  bot.on('callback_query:data', (ctx) => ctx.answerCallbackQuery({ text: 'This button no longer works.' }));
}
