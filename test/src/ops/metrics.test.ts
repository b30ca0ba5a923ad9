import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiPolicy, createBulkApi } from '../../../bot/telegram/api.js';
import { createRateLimiter } from '../../../bot/telegram/rate-limiter.js';
import type { BroadcastDoc, PendingDeletionDoc } from '../../../db/collections.js';
import { COLLECTION_NAMES } from '../../../db/collections.js';
import { createRepositories } from '../../../db/repositories/index.js';
import type { JobDefinition } from '../../../schedulers/job.js';
import { type OpsServer, startOpsServer } from '../../../src/ops/http-server.js';
import { apiCallResult, type BacklogSources, OpsMetrics } from '../../../src/ops/metrics.js';
import { startFakeBotApi } from '../../support/fake-bot-api/index.js';
import { type CapturedLogger, captureLogs } from '../../support/logs.js';
import { sampleValue } from '../../support/prometheus-text.js';
import { testRuntime } from '../../support/runtime.js';
import { useTestDatabase } from '../../support/test-db.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';
import { deferred } from '../../support/wait.js';

const RUNS_COLLECTION = COLLECTION_NAMES.runs;

const NOW = new Date('2026-03-10T12:00:00Z');
const seconds = (n: number) => new Date(NOW.getTime() + n * 1000);
const LEAP_DAY = '0 0 29 2 *';

describe('metrics', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let logs: CapturedLogger;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    logs = captureLogs([fake.token]);
    await Promise.all([
      db().collections.pendingDeletions.deleteMany({}),
      db().collections.broadcasts.deleteMany({}),
      db().db.collection(RUNS_COLLECTION).deleteMany({}),
    ]);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function serve(metrics: OpsMetrics): Promise<() => Promise<string>> {
    const server: OpsServer = await startOpsServer({
      port: 0,
      readiness: async () => ({ ready: true, checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'ok' } }),
      registry: metrics.registry,
      logger: logs.logger,
    });
    cleanups.push(() => server.close());
    return async () => {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
  }

  function api(metrics: OpsMetrics, apiRoot = fake.apiRoot) {
    return createBulkApi(
      fake.token,
      apiRoot,
      createApiPolicy({
        limiter: createRateLimiter({ maxPerSecond: 1_000, perChatPerSecond: 1_000 }),
        maxRetryAfterSeconds: 5,
        maxRateLimitRetries: 5,
        observer: metrics.apiObserver,
      }),
    );
  }

  it('counts runs per job and status, their durations and the items their results report', async () => {
    const metrics = new OpsMetrics({ backlog: createRepositories(db().collections), logger: logs.logger });
    const scrape = await serve(metrics);
    const release = deferred();
    const held = deferred();
    const jobs: JobDefinition[] = [
      { name: 'token-cleanup', schedule: LEAP_DAY, description: 't', run: async () => ({ deleted: 3 }) },
      {
        name: 'message-deleter',
        schedule: LEAP_DAY,
        description: 't',
        run: async () => ({ records: 2, messagesDeleted: 4, notices: 2, failed: 1, deferred: 0 }),
      },
      {
        name: 'broadcast-deleter',
        schedule: LEAP_DAY,
        description: 't',
        run: async () => {
          throw new Error('Telegram is down');
        },
      },
      {
        name: 'token-count-reset',
        schedule: LEAP_DAY,
        description: 't',
        run: async () => {
          held.resolve();
          await release.promise;
          return { deleted: 7 };
        },
      },
    ];
    const runtime = testRuntime({
      db: db().db,
      jobs,
      timezone: 'UTC',
      logger: logs.logger,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    cleanups.push(() => runtime.stop());
    const unwatch = metrics.watch(runtime);
    cleanups.push(async () => unwatch());

    // Every job starts at 0, so Prometheus' increase() counts its first run too.
    const before = await scrape();
    for (const job of runtime.jobNames) {
      for (const status of ['succeeded', 'failed', 'skipped', 'abandoned']) {
        expect(sampleValue(before, 'tgbot_scheduler_runs_total', { job_name: job, status })).toBe(0);
      }
      expect(sampleValue(before, 'tgbot_job_items_processed_total', { job_name: job })).toBe(0);
      expect(sampleValue(before, 'tgbot_scheduler_run_duration_seconds_count', { job_name: job })).toBe(0);
    }

    expect((await runtime.runNow('token-cleanup')).status).toBe('succeeded');
    expect((await runtime.runNow('token-cleanup')).status).toBe('succeeded');
    expect((await runtime.runNow('message-deleter')).status).toBe('succeeded');
    expect((await runtime.runNow('broadcast-deleter')).status).toBe('failed');
    const first = runtime.runNow('token-count-reset');
    await held.promise;
    expect((await runtime.runNow('token-count-reset')).status).toBe('skipped');
    release.resolve();
    expect((await first).status).toBe('succeeded');

    const text = await scrape();
    const runs = (job: string, status: string) =>
      sampleValue(text, 'tgbot_scheduler_runs_total', { job_name: job, status });
    expect(runs('token-cleanup', 'succeeded')).toBe(2);
    expect(runs('message-deleter', 'succeeded')).toBe(1);
    expect(runs('broadcast-deleter', 'failed')).toBe(1);
    expect(runs('token-count-reset', 'skipped')).toBe(1);
    expect(runs('token-count-reset', 'succeeded')).toBe(1);

    const durations = (job: string) =>
      sampleValue(text, 'tgbot_scheduler_run_duration_seconds_count', { job_name: job });
    expect(durations('token-cleanup')).toBe(2);
    expect(durations('broadcast-deleter')).toBe(1);
    expect(durations('token-count-reset')).toBe(1); // the skipped run took no time and is not observed

    const processed = (job: string) =>
      sampleValue(text, 'tgbot_job_items_processed_total', { job_name: job });
    expect(processed('token-cleanup')).toBe(6);
    expect(processed('message-deleter')).toBe(4);
    expect(processed('token-count-reset')).toBe(7);
    expect(processed('broadcast-deleter')).toBe(0);
    expect(sampleValue(text, 'tgbot_job_items_failed_total', { job_name: 'message-deleter' })).toBe(1);
    expect(sampleValue(text, 'tgbot_job_notices_sent_total', { job_name: 'message-deleter' })).toBe(2);
    expect(
      sampleValue(text, 'tgbot_scheduler_last_success_timestamp_seconds', { job_name: 'token-cleanup' }),
    ).toBeGreaterThan(0);
    expect(
      sampleValue(text, 'tgbot_scheduler_last_success_timestamp_seconds', { job_name: 'broadcast-deleter' }),
    ).toBeUndefined();
  });

  it('counts Bot API calls by method and result, 429 answers and the retry_after seconds waited', async () => {
    const metrics = new OpsMetrics({ backlog: createRepositories(db().collections), logger: logs.logger });
    const scrape = await serve(metrics);
    const client = api(metrics);
    fake.addChat(42, { user: { id: 42, first_name: 'Ann' } });

    await client.getMe();
    fake.injectFault({ method: 'sendMessage', status: 429, retryAfter: 1 });
    await client.sendMessage(42, 'waited out a 429'); // auto-retry waits the real retry_after: 1 s
    fake.injectFault({ method: 'sendMessage', status: 400 });
    await expect(client.sendMessage(42, 'rejected')).rejects.toThrow(/injected fault/);
    fake.injectFault({ method: 'sendMessage', status: 502 });
    await expect(client.sendMessage(42, 'bad gateway')).rejects.toThrow();

    const gone = await startFakeBotApi();
    await gone.stop();
    await expect(api(metrics, gone.apiRoot).getMe()).rejects.toThrow();

    const text = await scrape();
    const calls = (method: string, result: string) =>
      sampleValue(text, 'tgbot_telegram_api_calls_total', { method, result });
    expect(calls('getMe', 'ok')).toBe(1);
    expect(calls('sendMessage', '429')).toBe(1);
    expect(calls('sendMessage', 'ok')).toBe(1);
    expect(calls('sendMessage', '4xx')).toBe(1);
    expect(calls('sendMessage', '5xx')).toBe(1);
    expect(calls('getMe', 'network')).toBe(1);
    expect(sampleValue(text, 'tgbot_telegram_api_rate_limited_total', { method: 'sendMessage' })).toBe(1);
    expect(sampleValue(text, 'tgbot_telegram_api_retry_after_seconds_total', { method: 'sendMessage' })).toBe(
      1,
    );
    expect(text).not.toContain(fake.token);
  });

  it('reads the deletion backlog and active broadcasts from MongoDB at scrape time', async () => {
    const metrics = new OpsMetrics({
      backlog: createRepositories(db().collections),
      logger: logs.logger,
      clock: () => NOW,
    });
    const scrape = await serve(metrics);

    let text = await scrape();
    expect(sampleValue(text, 'tgbot_pending_deletions_due')).toBe(0);
    expect(sampleValue(text, 'tgbot_pending_deletions_oldest_overdue_seconds')).toBe(0);
    expect(sampleValue(text, 'tgbot_broadcasts_active')).toBe(0);
    expect(sampleValue(text, 'tgbot_backlog_stats_up')).toBe(1);

    const deletion = (deleteAt: Date): PendingDeletionDoc => ({
      user_id: 1,
      chat_id: 1,
      message_ids: [1],
      delete_at: deleteAt,
      content_id: 'c',
      created_at: seconds(-3600),
    });
    await db().collections.pendingDeletions.insertMany([
      deletion(seconds(-90)),
      deletion(seconds(-30)),
      deletion(NOW),
      deletion(seconds(60)),
    ]);
    const broadcast = (deleteAt: Date): BroadcastDoc => ({
      delete_at: deleteAt,
      created_at: seconds(-7200),
      created_by: 1,
      source_chat_id: 1,
      source_message_id: 1,
      status: 'sent',
      counts: { total: 1, delivered: 1, blocked: 0, failed: 0 },
    });
    await db().collections.broadcasts.insertMany([
      broadcast(seconds(3600)),
      broadcast(seconds(7200)),
      broadcast(seconds(-1)),
    ]);

    text = await scrape();
    expect(sampleValue(text, 'tgbot_pending_deletions_due')).toBe(3);
    expect(sampleValue(text, 'tgbot_pending_deletions_oldest_overdue_seconds')).toBe(90);
    expect(sampleValue(text, 'tgbot_broadcasts_active')).toBe(2);
  });

  it('still serves every other metric when the database does not answer, and logs that once', async () => {
    const hung: BacklogSources = {
      pendingDeletions: { countDue: () => new Promise(() => {}), oldestDue: () => new Promise(() => {}) },
      broadcasts: { countActive: () => new Promise(() => {}) },
    };
    const metrics = new OpsMetrics({ backlog: hung, logger: logs.logger, backlogTimeoutMs: 30 });
    metrics.recordRun({
      runId: 'r',
      job: 'token-cleanup',
      trigger: 'manual',
      status: 'succeeded',
      attempts: 1,
      durationMs: 5,
      result: { deleted: 1 },
      error: null,
    });
    const scrape = await serve(metrics);
    for (let i = 0; i < 2; i++) {
      const text = await scrape();
      expect(sampleValue(text, 'tgbot_backlog_stats_up')).toBe(0);
      expect(sampleValue(text, 'tgbot_pending_deletions_due')).toBeNaN();
      expect(sampleValue(text, 'tgbot_pending_deletions_oldest_overdue_seconds')).toBeNaN();
      expect(sampleValue(text, 'tgbot_broadcasts_active')).toBeNaN();
      expect(sampleValue(text, 'tgbot_scheduler_runs_total', { job_name: 'token-cleanup' })).toBe(1);
      expect(sampleValue(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    }
    const warnings = logs.messages().filter((message) => message.startsWith('backlog metrics unavailable'));
    expect(warnings).toHaveLength(1);

    const failing = new OpsMetrics({
      backlog: {
        pendingDeletions: {
          countDue: async () => {
            throw new Error('connection refused');
          },
          oldestDue: async () => null,
        },
        broadcasts: { countActive: async () => 0 },
      },
      logger: logs.logger,
    });
    expect(sampleValue(await failing.text(), 'tgbot_backlog_stats_up')).toBe(0);
  });

  it('keeps two instances in one process apart, and ignores values prom-client would reject', async () => {
    const backlog = createRepositories(db().collections);
    const a = new OpsMetrics({ backlog, logger: logs.logger });
    const b = new OpsMetrics({ backlog, logger: logs.logger, defaultMetrics: false });
    a.apiObserver.onCall?.({ method: 'getMe', ok: true, errorCode: undefined, durationMs: 1 });
    a.apiObserver.onRateLimited?.({ method: 'sendMessage', retryAfterSeconds: -1 });
    expect(sampleValue(await a.text(), 'tgbot_telegram_api_calls_total', { method: 'getMe' })).toBe(1);
    expect(
      sampleValue(await b.text(), 'tgbot_telegram_api_calls_total', { method: 'getMe' }),
    ).toBeUndefined();
    expect(sampleValue(await b.text(), 'process_cpu_user_seconds_total')).toBeUndefined();
  });

  it('folds Telegram answers into few result values', () => {
    expect(apiCallResult(true, undefined)).toBe('ok');
    expect(apiCallResult(false, 429)).toBe('429');
    expect(apiCallResult(false, 400)).toBe('4xx');
    expect(apiCallResult(false, 403)).toBe('4xx');
    expect(apiCallResult(false, 502)).toBe('5xx');
    expect(apiCallResult(false, undefined)).toBe('network');
  });
});
