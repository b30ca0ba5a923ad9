import { createBot } from '../bot/create-bot.js';
import type { Config } from './config.js';
import { openDatabase } from './database.js';
import type { Logger } from './logger.js';

/**
 * The bot's whole life: connect, start, long-poll, and on the way out (SIGINT/SIGTERM or a fatal
 * polling error) stop everything in the `finally` around polling.
 */
export async function runApp(config: Config, logger: Logger): Promise<void> {
  const opened = await openDatabase(config, logger.child({ component: 'db' }));
  try {
    const bot = createBot({
      token: config.botToken,
      apiRoot: config.telegram.apiRoot,
      logger: logger.child({ component: 'bot' }),
    });
    bot.command('start', (ctx) => ctx.reply('Hello! This bot is getting ready.'));

    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      void bot.stop();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);

    try {
      await bot.start({
        onStart: (me) => logger.info({ username: me.username }, 'bot is polling for updates'),
      });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      logger.info('polling stopped');
    }
  } finally {
    await opened.close();
    logger.info('MongoDB connection closed');
  }
}
