import { Bot } from 'grammy';
import type { Logger } from '../src/logger.js';

export interface BotOptions {
  token: string;
  apiRoot: string;
  logger: Logger;
}

/** The grammY bot with its error boundary; features are composed in by the caller. */
export function createBot(options: BotOptions): Bot {
  const bot = new Bot(options.token, { client: { apiRoot: options.apiRoot } });
  bot.catch((error) => {
    options.logger.error(
      { err: error.error, update_id: error.ctx.update.update_id },
      'update handler failed',
    );
  });
  return bot;
}
