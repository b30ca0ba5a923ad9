import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { ObjectId } from 'mongodb';
import { chromium } from 'playwright-core';
import type { JobControl } from '../bot/job-control.js';
import { connectDatabase } from '../db/client.js';
import type { Collections, RunDoc } from '../db/collections.js';
import { ensureIndexes } from '../db/indexes.js';
import { slotsBetween } from '../schedulers/cron-schedule.js';
import { JOB_CATALOG, type JobName } from '../schedulers/jobs/catalog.js';
import { type RunningApp, runApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { createLogger, memoryDestination } from '../src/logger.js';
import { startFakeBotApi } from '../test/support/fake-bot-api/index.js';
import { startMongoEmulator } from '../test/support/mongo-emulator/index.js';

/*
 * npm run dashboard:screenshots — writes docs/dashboard-jobs.png and docs/dashboard-history.png:
 * the real app (runApp) on the MongoDB emulator and the fake Bot API, with two weeks of run
 * history, a paused job, a schedule changed at run time, failures, deletions waiting and two
 * broadcasts, photographed by Debian's Chromium at 1280 pixels wide. The clock (the app's, the
 * emulator's, the fake's) stands still at NOW, so the pictures show the same figures every time.
 */

// 14:46 in Berlin; an even minute, so that the message deleter's latest slot is the same on its
// default schedule (every minute, what the app starts with) and on its run-time one (every 2).
const NOW = new Date('2026-03-10T13:46:12Z');
const TIMEZONE = 'Europe/Berlin';
const TOKEN = 'screenshots-dashboard-token-0123456789abcdef';
const ADMIN_ID = 4242;
const CHROMIUM = '/usr/bin/chromium';
const DOCS = new URL('../docs/', import.meta.url);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const INSTANCES = ['bot-7c9f4d-x2kqp:1:5e0b2a91', 'bot-7c9f4d-m8hzt:1:c41d7f06'];

/** A small deterministic generator (mulberry32), so the pictures never change between runs. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** What each job's runs look like: how long they take and what they report. */
const PROFILES: Record<
  JobName,
  { ms: [number, number]; result: (next: () => number) => Record<string, number> }
> = {
  'token-cleanup': { ms: [40, 260], result: (next) => ({ deleted: Math.round(20 + next() * 40) }) },
  'message-deleter': {
    ms: [90, 900],
    result: (next) => ({ messagesDeleted: Math.round(next() * next() * 30), failed: 0 }),
  },
  'broadcast-deleter': {
    ms: [300, 4_000],
    result: (next) => ({ messagesDeleted: next() < 0.85 ? 0 : Math.round(200 + next() * 1_200) }),
  },
  'token-count-reset': { ms: [30, 120], result: (next) => ({ deleted: Math.round(40 + next() * 90) }) },
  digest: { ms: [1_200, 2_400], result: () => ({ sent: 2 }) },
  backup: { ms: [7_500, 12_000], result: (next) => ({ documents: Math.round(48_000 + next() * 900) }) },
};

/** The message deleter's schedule, changed at run time (as /schedule in Telegram does). */
const DELETER_SCHEDULE = '*/2 * * * *';

function run(
  job: JobName,
  started: Date,
  next: () => number,
  extra: Partial<RunDoc> = {},
  slot: Date | null = started,
): RunDoc {
  const [min, max] = PROFILES[job].ms;
  const duration = Math.round(min + next() * (max - min));
  return {
    _id: slot ? `${job}:${slot.toISOString()}` : `${job}:manual:${started.getTime().toString(36)}`,
    job,
    slot,
    trigger: slot ? 'scheduled' : 'manual',
    instance: INSTANCES[Math.floor(next() * INSTANCES.length)]!,
    status: 'succeeded',
    started_at: new Date(started.getTime() + Math.round(next() * 40)),
    finished_at: new Date(started.getTime() + duration),
    heartbeat_at: new Date(started.getTime() + duration),
    attempts: 1,
    result: PROFILES[job].result(next),
    error: null,
    expire_at: new Date(NOW.getTime() + 30 * DAY),
    ...extra,
  };
}

async function seed(collections: Collections): Promise<void> {
  const next = random(15);
  const runs: RunDoc[] = [];
  const since = new Date(NOW.getTime() - 14 * DAY);
  for (const entry of JOB_CATALOG) {
    const job = entry.name;
    const schedule = job === 'message-deleter' ? DELETER_SCHEDULE : entry.defaultSchedule;
    // The message deleter runs every 2 minutes: its last day is enough.
    const from = job === 'message-deleter' ? new Date(NOW.getTime() - DAY - HOUR) : since;
    const slots = slotsBetween(schedule, TIMEZONE, from, NOW, 5_000);
    for (const slot of slots) runs.push(run(job, slot, next));
  }
  const at = (iso: string) => new Date(iso);
  const patch = (id: string, change: Partial<RunDoc>) => {
    const found = runs.find((doc) => doc._id === id);
    if (!found) throw new Error(`no seeded run ${id}`);
    Object.assign(found, change);
  };
  // Two deletions Telegram refused, in one run of the message deleter this morning.
  patch('message-deleter:2026-03-10T07:14:00.000Z', { result: { messagesDeleted: 9, failed: 2 } });
  // A backup that ran out of disk space, then a manual one that worked.
  patch('backup:2026-03-07T02:30:00.000Z', {
    status: 'failed',
    attempts: 3,
    result: null,
    error: "ENOSPC: no space left on device, write '/var/backups/bot/2026-03-07T02-30-00Z/users.bson.gz'",
    finished_at: at('2026-03-07T02:31:41.000Z'),
  });
  runs.push(run('backup', at('2026-03-07T08:12:37.000Z'), next, { requested_by: 'dashboard:admin' }, null));
  // The digest could not reach one admin this morning.
  patch('digest:2026-03-10T08:00:00.000Z', {
    status: 'failed',
    attempts: 3,
    result: null,
    error: "Call to 'sendPhoto' failed! (403: Forbidden: bot was blocked by the user)",
    finished_at: at('2026-03-10T08:00:19.000Z'),
  });
  // A token cleanup started from the dashboard a quarter of an hour ago.
  runs.push(
    run('token-cleanup', at('2026-03-10T13:31:05.000Z'), next, { requested_by: 'dashboard:admin' }, null),
  );
  // The broadcast deleter is busy with yesterday's big broadcast, on the other instance.
  patch('broadcast-deleter:2026-03-10T13:00:00.000Z', {
    status: 'running',
    instance: INSTANCES[1]!,
    started_at: at('2026-03-10T13:00:00.212Z'),
    finished_at: null,
    heartbeat_at: NOW,
    result: null,
  });
  await collections.runs.insertMany(runs);

  // Content waiting for deletion: most of it later today, a few overdue (Telegram slowed us down).
  const deletions = Array.from({ length: 46 }, (_, i) => {
    const overdue = i < 3;
    return {
      user_id: 1_000 + i,
      chat_id: 1_000 + i,
      message_ids: [10 + i, 11 + i],
      delete_at: new Date(NOW.getTime() + (overdue ? -(4 - i) * 60_000 : (i + 1) * 17 * 60_000)),
      content_id: `c${i}`,
      created_at: new Date(NOW.getTime() - 3 * HOUR),
      ...(overdue ? { attempts: 2, last_error: 'Too Many Requests: retry after 3' } : {}),
    };
  });
  await collections.pendingDeletions.insertMany(deletions);

  await collections.broadcasts.insertMany([
    {
      _id: new ObjectId('67cd9a0e5b1f3c0012a4e7d1'),
      status: 'sent',
      created_at: at('2026-03-09T16:00:03.000Z'),
      created_by: ADMIN_ID,
      finished_at: at('2026-03-09T16:01:20.000Z'),
      delete_at: at('2026-03-10T16:00:03.000Z'),
      source_chat_id: ADMIN_ID,
      source_message_id: 812,
      counts: { total: 1_204, delivered: 1_150, blocked: 41, failed: 13 },
    },
    {
      _id: new ObjectId('67cef3b25b1f3c0012a4e9c4'),
      status: 'sending',
      created_at: at('2026-03-10T13:45:02.000Z'),
      created_by: ADMIN_ID,
      delete_at: at('2026-03-11T13:45:02.000Z'),
      source_chat_id: ADMIN_ID,
      source_message_id: 840,
      counts: { total: 1_530, delivered: 612, blocked: 18, failed: 3 },
      owner: INSTANCES[0]!,
      heartbeat_at: NOW,
    },
  ]);
}

/**
 * node-cron fires on the real clock: start just after a minute begins, so that no tick of the
 * every-2-minutes deleter lands while the pictures are taken and adds a run to them.
 */
async function awayFromMinuteBoundary(): Promise<void> {
  const second = new Date().getSeconds();
  if (second < 2 || second > 20) {
    const wait = ((62 - second) % 60) * 1_000;
    console.log(`waiting ${wait / 1000} s for the next minute to begin`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`needs Chromium at ${CHROMIUM}: apt-get install chromium`);
  await awayFromMinuteBoundary();
  const emulator = await startMongoEmulator({ port: 0, now: () => NOW });
  const fake = await startFakeBotApi();
  fake.setClock(() => NOW.getTime());
  const dbName = 'dashboard_screenshots';
  const database = await connectDatabase({ uri: emulator.uri, dbName });
  const logs = memoryDestination();
  const controller = new AbortController();
  let done: Promise<void> | undefined;
  try {
    await ensureIndexes(database.db);
    await seed(database.collections);

    const parsed = parseConfig({
      BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      MONGODB_URI: emulator.uri,
      MONGODB_DB: dbName,
      HTTP_PORT: '0',
      DASHBOARD_TOKEN: TOKEN,
      SCHEDULER_TIMEZONE: TIMEZONE,
      ADMIN_IDS: String(ADMIN_ID),
      SHUTDOWN_TIMEOUT_MS: '3000',
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    let ready: (app: RunningApp) => void = () => {};
    const started = new Promise<RunningApp>((resolve) => {
      ready = resolve;
    });
    done = runApp(parsed.config, createLogger({ level: 'warn', format: 'json', destination: logs }), {
      clock: () => NOW,
      signal: controller.signal,
      onReady: ready,
    });
    const app = await Promise.race([
      started,
      done.then(() => {
        throw new Error('the app stopped during start-up');
      }),
    ]);
    const base = app.opsUrl;
    if (!base) throw new Error('the ops server did not start');
    const jobs: JobControl = app.runtime;
    const changed = await jobs.setSchedule('message-deleter', DELETER_SCHEDULE, `telegram:${ADMIN_ID}`);
    if (!changed.ok) throw new Error(`the message deleter's schedule was refused: ${changed.problem}`);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
      page.on('console', (message) => {
        if (message.type() === 'error') console.warn(`page console: ${message.text()}`);
      });
      await page.goto(`${base}/admin/login`);
      await page.fill('#token', TOKEN);
      await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type="submit"]')]);
      await page.waitForSelector('body[data-ready="true"]');

      // The jobs page: pause the digest (it keeps failing), then open the schedule editor.
      const digest = page.locator('tr[data-job="digest"] [data-testid="toggle-pause"]');
      await digest.click();
      await page.waitForSelector('tr[data-job="digest"] [data-testid="job-state"]:text-is("paused")');
      await page.click('tr[data-job="token-cleanup"] [data-testid="edit-schedule"]');
      await page.fill('[data-testid="schedule-input"]', '0 */6 * * *');
      await page.waitForSelector('[data-testid="schedule-preview-time"]:nth-child(5)');
      await page.locator('[data-testid="schedule-preview-text"]', { hasText: '6 hours' }).waitFor();
      await page.locator('[data-testid="schedule-input"]').blur();
      await mkdir(DOCS, { recursive: true });
      await page.screenshot({ path: new URL('dashboard-jobs.png', DOCS).pathname, fullPage: true });

      // The history page: the backups, and the one that failed.
      await page.click('[data-testid="tab-history"]');
      await page.waitForSelector('tr[data-testid="run-row"]');
      await page.selectOption('[data-testid="filter-job"]', 'backup');
      await page.selectOption('[data-testid="filter-limit"]', '10');
      const failed = page.locator(
        'tr[data-run-id="backup:2026-03-07T02:30:00.000Z"] [data-testid="run-open"]',
      );
      await failed.waitFor();
      await page.locator('tr[data-testid="run-row"][data-job="backup"]').nth(9).waitFor();
      await failed.click();
      await page.waitForSelector('[data-testid="run-detail"]:not([hidden])');
      await page.mouse.wheel(0, -10_000);
      await page.locator('header.top').waitFor();
      await page.screenshot({ path: new URL('dashboard-history.png', DOCS).pathname, fullPage: true });
    } finally {
      await browser.close();
    }
    console.log(`wrote ${new URL('dashboard-jobs.png', DOCS).pathname}`);
    console.log(`wrote ${new URL('dashboard-history.png', DOCS).pathname}`);
  } finally {
    controller.abort();
    await done?.catch((error: unknown) => console.error(error));
    await database.close();
    await fake.stop();
    await emulator.close();
  }
  const problems = logs.records().filter((record) => record.level === 'error');
  if (problems.length > 0)
    console.warn(
      'the app logged errors:',
      problems.map((record) => record.msg),
    );
}

await main();
