import { sequentialize } from '@grammyjs/runner';
import { Bot, type MiddlewareFn } from 'grammy';
import type { Logger } from 'pino';
import type { BotContext, BotDeps } from './context.js';
import { adminOnly } from './features/admin/index.js';
import { membershipFeature } from './features/membership.js';
import { startFeature } from './features/start.js';
import { type ApiPolicy, applyInteractivePolicy } from './telegram/api.js';
import type { UpdatesInFlight } from './updates/in-flight.js';
import { sequenceKey } from './updates/sequence-key.js';
import { userLimit } from './updates/user-limit.js';

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

/** Sets the per-update facts every handler reads (BotFlavor); the first middleware of the bot. */
export function updateFacts(deps: Pick<BotDeps, 'adminIds' | 'clock' | 'logger'>): MiddlewareFn<BotContext> {
  const admins = new Set(deps.adminIds);
  return (ctx, next) => {
    ctx.now = deps.clock();
    ctx.isAdmin = ctx.from !== undefined && admins.has(ctx.from.id);
    ctx.log = deps.logger.child({ updateId: ctx.update.update_id, userId: ctx.from?.id });
    return next();
  };
}

export interface UpdatePipelineOptions {
  /** Counts the updates in hand (stops wait for them). */
  inFlight: UpdatesInFlight;
  /** USER_RATE_LIMIT_PER_MINUTE; 0 turns the limit off. */
  userLimitPerMinute: number;
}

/**
 * Updates are handled concurrently (the runner, or the webhook's dispatcher), so the order of the
 * first middlewares matters: counted first, then a flooding user's excess is dropped before it can
 * queue, then updates of one chat wait for each other, then the features.
 */
export function installFeatures(bot: Bot<BotContext>, deps: BotDeps, pipeline: UpdatePipelineOptions): void {
  bot.use(pipeline.inFlight.middleware());
  bot.use(
    userLimit({ perMinute: pipeline.userLimitPerMinute, adminIds: deps.adminIds, logger: deps.logger }),
  );
  bot.use(sequentialize<BotContext>((ctx) => sequenceKey(ctx.update)));
  bot.use(updateFacts(deps));
  bot.use(membershipFeature(deps));
  bot.use(startFeature(deps));
  bot.use(adminOnly(deps));
  // Buttons from old messages or crafted callback data: answer, so the client stops spinning.
  bot.on('callback_query:data', (ctx) => ctx.answerCallbackQuery({ text: 'This button no longer works.' }));
}
