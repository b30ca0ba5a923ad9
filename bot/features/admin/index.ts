import { Composer } from 'grammy';
import type { BotCommand } from 'grammy/types';
import type { BotContext, BotDeps } from '../../context.js';
import { broadcastFeature } from './broadcast.js';
import { contentFeature } from './content.js';
import { digestFeature } from './digest.js';
import type { AdminFeature } from './feature.js';
import { scheduleFeature } from './schedule.js';
import { statsFeature } from './stats.js';
import { tasksFeature } from './tasks.js';

export type { AdminFeature } from './feature.js';

/** Every admin feature, in menu order. A new one is added here and nowhere else. */
export const ADMIN_FEATURES: readonly AdminFeature[] = [
  contentFeature,
  broadcastFeature,
  tasksFeature,
  scheduleFeature,
  statsFeature,
  digestFeature,
];

/** The admins' command menu, and what non-admins are told is not for them. */
export function adminCommands(features: readonly AdminFeature[] = ADMIN_FEATURES): BotCommand[] {
  return features.flatMap((feature) => feature.commands);
}

/**
 * Admin features behind one admin filter (denied by default: a handler in them is unreachable for
 * anyone not in ADMIN_IDS, whether or not its command is listed), then a short refusal, a log line
 * and nothing else for the listed commands and buttons when they come from someone else.
 */
export function adminOnly(
  deps: BotDeps,
  features: readonly AdminFeature[] = ADMIN_FEATURES,
): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const admins = composer.filter((ctx) => ctx.isAdmin);
  for (const feature of features) admins.use(feature.create(deps));

  const others = composer.filter((ctx) => !ctx.isAdmin);
  const listed = adminCommands(features).map((entry) => entry.command);
  if (listed.length > 0) {
    others.command(listed, async (ctx) => {
      ctx.log.warn(
        { userId: ctx.from?.id, command: ctx.message?.text?.split(/\s/)[0] },
        'refused an admin command from a non-admin',
      );
      await ctx.reply('Sorry, that command is for admins only.');
    });
  }
  for (const pattern of features.flatMap((feature) => (feature.callbacks ? [feature.callbacks] : []))) {
    others.callbackQuery(pattern, async (ctx) => {
      ctx.log.warn(
        { userId: ctx.from.id, data: ctx.callbackQuery.data.slice(0, 64) },
        'refused an admin button from a non-admin',
      );
      await ctx.answerCallbackQuery({ text: 'Admins only.' });
    });
  }
  return composer;
}
