import { limit } from '@grammyjs/ratelimiter';
import type { MiddlewareFn } from 'grammy';
import type { BotContext } from '../context.js';

export interface UserLimitOptions {
  /** Updates one user may send per minute; 0 turns the limit off. */
  perMinute: number;
  adminIds: readonly number[];
  logger: { warn(object: object, message: string): void };
}

export const USER_LIMIT_NOTICE = 'You are sending too fast. Please wait a minute, then try again.';

/**
 * One user flooding the bot (hundreds of commands or presses a minute) must not take the update
 * slots everyone shares. Installed before the per-chat queues, so the excess is dropped at once
 * instead of waiting in line; the user gets one short notice per minute and the log one line.
 * Admins are never limited. Counts are per instance (the plugin's memory store).
 */
export function userLimit(options: UserLimitOptions): MiddlewareFn<BotContext> {
  if (options.perMinute === 0) return (_ctx, next) => next();
  const admins = new Set(options.adminIds);
  return limit<BotContext, never>({
    timeFrame: 60_000,
    limit: options.perMinute,
    keyGenerator: (ctx) => (ctx.from && !admins.has(ctx.from.id) ? String(ctx.from.id) : undefined),
    // Called once per user and minute: on the first update over the limit.
    onLimitExceeded: async (ctx) => {
      options.logger.warn(
        { userId: ctx.from?.id, perMinute: options.perMinute },
        'a user is sending updates faster than the limit; ignoring them for the rest of the minute',
      );
      if (ctx.callbackQuery) {
        await ctx.answerCallbackQuery({ text: USER_LIMIT_NOTICE }).catch(() => undefined);
      } else if (ctx.chat?.type === 'private') {
        await ctx.reply(USER_LIMIT_NOTICE).catch(() => undefined);
      }
    },
  });
}
