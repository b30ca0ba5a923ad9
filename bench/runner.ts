/**
 * Runs one job once, the way production would, and reports what it cost:
 *
 *   tsx bench/runner.ts <ours|baseline> <job of the catalog>
 *
 * Configuration comes from the environment (BOT_TOKEN, TELEGRAM_API_ROOT, MONGODB_URI, MONGODB_DB,
 * TELEGRAM_MAX_RPS, ...). The last stdout line is JSON: wall time, database round trips (the
 * driver's command monitoring), peak memory of this process, and the job's own result.
 */
import { Api } from 'grammy';
import { MongoClient } from 'mongodb';
import { connectDatabase } from '../db/client.js';
import { ensureIndexes } from '../db/indexes.js';
import { isJobName, JOB_NAMES } from '../schedulers/jobs/catalog.js';
import { parseConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { buildCore } from '../src/wiring.js';
import {
  type BaselineDeps,
  baselineCleanupExpiredTokens,
  baselineDeleteDueMessages,
  baselineDeleteExpiredBroadcasts,
  baselineResetTokenCounts,
  fixedPace,
} from './baseline/seed-style.js';

const [impl, job] = process.argv.slice(2);
if ((impl !== 'ours' && impl !== 'baseline') || !job || !isJobName(job)) {
  console.error(`usage: tsx bench/runner.ts <ours|baseline> <${JOB_NAMES.join('|')}>`);
  process.exit(1);
}

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  console.error(parsed.problems.join('\n'));
  process.exit(1);
}
const config = parsed.config;

let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 10);
sampler.unref();

let roundTrips = 0;
let measuring = false;
const countCommand = () => {
  if (measuring) roundTrips += 1;
};

/** Warm-up calls (getMe) must not count in the Bot API figures: the fake's statistics restart here. */
async function startMeasuring(): Promise<void> {
  const control = process.env.BENCH_CONTROL_URL;
  if (control) await fetch(`${control}/stats/reset`, { method: 'POST' });
  measuring = true;
}

async function runOurs(): Promise<Record<string, unknown>> {
  const logger = createLogger({ level: 'warn', format: 'json', destination: { write: () => undefined } });
  const database = await connectDatabase({
    uri: config.mongodb.uri ?? '',
    dbName: config.mongodb.dbName,
    driverOptions: { monitorCommands: true },
  });
  database.client.on('commandStarted', countCommand);
  const { runtime, jobDeps } = buildCore({ config, database, logger });
  // Warm-up outside the measurement: indexes, and the bot's username.
  await ensureIndexes(database.db);
  await runtime.stats();
  await jobDeps.botUsername();
  await startMeasuring();
  const started = performance.now();
  const outcome = await runtime.runNow(job as string);
  const wallMs = performance.now() - started;
  measuring = false;
  await database.close();
  return { wallMs, status: outcome.status, result: outcome.result, error: outcome.error };
}

async function runBaseline(): Promise<Record<string, unknown>> {
  const client = new MongoClient(config.mongodb.uri ?? '', { monitorCommands: true });
  await client.connect();
  client.on('commandStarted', countCommand);
  const api = new Api(config.botToken, { apiRoot: config.telegram.apiRoot });
  const me = await api.getMe();
  const deps: BaselineDeps = {
    db: client.db(config.mongodb.dbName),
    api,
    botUsername: me.username,
    pace: fixedPace(config.telegram.maxRps),
    log: () => undefined,
  };
  await startMeasuring();
  // The seed's four schedulers written its way; a job without one has no baseline.
  const baselines: Record<string, (deps: BaselineDeps, now: Date) => Promise<Record<string, number>>> = {
    'token-cleanup': baselineCleanupExpiredTokens,
    'message-deleter': baselineDeleteDueMessages,
    'broadcast-deleter': baselineDeleteExpiredBroadcasts,
    'token-count-reset': baselineResetTokenCounts,
  };
  const run = baselines[job as string];
  if (!run) throw new Error(`no baseline for ${job}`);
  const started = performance.now();
  const result = await run(deps, new Date());
  const wallMs = performance.now() - started;
  measuring = false;
  await client.close();
  return { wallMs, status: 'succeeded', result };
}

const report = impl === 'ours' ? await runOurs() : await runBaseline();
peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
// With --expose-gc (the orchestrator sets it): what is still alive once garbage is collected, to
// tell a leak from garbage the collector had not got round to.
(globalThis as { gc?: () => void }).gc?.();
const liveHeapMb = process.memoryUsage().heapUsed / 1024 / 1024;
console.log(
  JSON.stringify({
    impl,
    job,
    ...report,
    dbRoundTrips: roundTrips,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: peakHeap / 1024 / 1024,
    liveHeapMb,
  }),
);
process.exit(0);
