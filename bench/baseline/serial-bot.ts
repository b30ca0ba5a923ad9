/**
 * Today's way of receiving updates, for the many-users bench: the same bot (our features, built by
 * src/wiring.ts buildApp) but on grammY's serial `bot.start()` loop — one update at a time, the
 * next one only after the last reply of the previous — with the simple limiter such bots carry: a
 * p-throttle at TELEGRAM_MAX_RPS and every message into a chat spaced 1 s from the one before.
 *
 *   node --import tsx bench/baseline/serial-bot.ts    (configuration from the environment)
 *
 * No schedulers, no lease, no ops server: the loop is what is measured. Stops on SIGTERM.
 */
import type { Transformer } from 'grammy';
import pThrottle from 'p-throttle';
import { connectDatabase } from '../../db/client.js';
import { ensureIndexes } from '../../db/indexes.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildApp } from '../../src/wiring.js';

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  console.error(parsed.problems.join('\n'));
  process.exit(1);
}
const config = parsed.config;
const logger = createLogger({ level: config.log.level, format: 'json' });

/** Every call through a p-throttle; a message into a chat waits until 1 s after the previous one. */
function serialSpacing(maxPerSecond: number, chatGapMs = 1_000): Transformer {
  const slot = pThrottle({ limit: maxPerSecond, interval: 1_000 })(async () => {});
  const lastSent = new Map<string, number>();
  return async (prev, method, payload, signal) => {
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
    if (/^(send|copy|forward)/.test(method) && chatId !== undefined) {
      const key = String(chatId);
      const wait = (lastSent.get(key) ?? Number.NEGATIVE_INFINITY) + chatGapMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lastSent.set(key, Date.now());
    }
    if (method !== 'getUpdates') await slot();
    return prev(method, payload, signal);
  };
}

const database = await connectDatabase({ uri: config.mongodb.uri ?? '', dbName: config.mongodb.dbName });
await ensureIndexes(database.db);
const app = buildApp({ config, database, logger });
// Installed last, so it wraps our own pipeline and decides when a call goes out.
app.bot.api.config.use(serialSpacing(config.telegram.maxRps));

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  app.rateBudget.close();
  app.bot
    .stop()
    .catch(() => undefined)
    .finally(() => database.close().finally(() => process.exit(0)));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.bot.start({
  allowed_updates: ['message', 'callback_query', 'my_chat_member'],
  drop_pending_updates: false,
});
