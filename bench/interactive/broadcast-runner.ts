/**
 * One bot instance that sends one broadcast, for the "three instances broadcasting at once"
 * scenario: the graph `npm start` builds (src/wiring.ts buildApp, so the same call pipeline,
 * limiter and any budget shared through the database), its broadcaster started as /broadcast
 * would start it. Configuration from the environment, plus
 *   BENCH_ADMIN_ID, BENCH_SOURCE_CHAT_ID, BENCH_SOURCE_MESSAGE_ID.
 * Prints `ready` once built (getMe done); sends when a line arrives on stdin (so that all
 * instances start together); prints one JSON line with the counts when the broadcast has ended.
 */
import { createInterface } from 'node:readline';
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
const adminId = Number(process.env.BENCH_ADMIN_ID);
const sourceChatId = Number(process.env.BENCH_SOURCE_CHAT_ID);
const sourceMessageId = Number(process.env.BENCH_SOURCE_MESSAGE_ID);
const logger = createLogger({ level: config.log.level, format: 'json', destination: process.stderr });

const database = await connectDatabase({ uri: config.mongodb.uri ?? '', dbName: config.mongodb.dbName });
await ensureIndexes(database.db);
const app = buildApp({ config, database, logger });
await app.bot.init();
console.log('ready');

const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
const started = performance.now();
const { broadcastId, total } = await app.broadcaster.start({
  adminId,
  adminChatId: adminId,
  sourceChatId,
  sourceMessageId,
  deleteAt: new Date(Date.now() + 2 * 3_600_000),
});
await app.broadcaster.whenIdle();
const wallMs = performance.now() - started;
const doc = await database.collections.broadcasts.findOne({ _id: broadcastId });
console.log(JSON.stringify({ total, wallMs, status: doc?.status, counts: doc?.counts }));
await app.broadcaster.stop(1_000);
// As npm start does when it stops: our share of the bulk budget lapses.
app.rateBudget.close();
await database.close();
process.exit(0);
