import { hostname } from 'node:os';
import type { Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiPolicy, createBulkApi } from '../../../bot/telegram/api.js';
import { createRateLimiter } from '../../../bot/telegram/rate-limiter.js';
import type { PendingDeletionDoc } from '../../../db/collections.js';
import { COLLECTION_NAMES, getCollections, type RunDoc } from '../../../db/collections.js';
import { AlertsRepository } from '../../../db/repositories/alerts.js';
import { createRepositories } from '../../../db/repositories/index.js';
import { RunHistory } from '../../../db/repositories/runs.js';
import {
  AlertMonitor,
  type AlertMonitorOptions,
  DELETION_LAG_ALERT,
  formatDuration,
  jobFailingAlert,
} from '../../../src/ops/alerts.js';
import { type CapturedLogger, captureLogs } from '../../support/logs.js';
import { testRuntime } from '../../support/runtime.js';
import { useTestDatabase } from '../../support/test-db.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';
import { waitFor } from '../../support/wait.js';

const RUNS_COLLECTION = COLLECTION_NAMES.runs;
const ALERTS_COLLECTION = COLLECTION_NAMES.alerts;

const ADMINS = [501, 502];
const NOW = new Date('2026-03-10T12:00:00Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);
const LEAP_DAY = '0 0 29 2 *';
/** Run history has a TTL index on the real clock: documents must not expire while a test reads them. */
const FAR_FUTURE = new Date(Date.now() + 365 * 86_400_000);
const JOB = 'message-deleter';

describe('admin alerts', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let logs: CapturedLogger;
  const cleanups: Array<() => Promise<unknown>> = [];
  /** How many messages each admin had when the test began: earlier tests' alerts must not count. */
  let seen = new Map<number, number>();

  beforeEach(async () => {
    logs = captureLogs([fake.token]);
    await Promise.all([
      db().db.collection(RUNS_COLLECTION).deleteMany({}),
      db().db.collection(ALERTS_COLLECTION).deleteMany({}),
      db().collections.pendingDeletions.deleteMany({}),
    ]);
    for (const id of ADMINS) fake.addChat(id, { user: { id, first_name: `Admin ${id}` } });
    seen = new Map(ADMINS.map((id) => [id, fake.messages(id).length]));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Messages each admin got since the test began. */
  const alertsOf = (id: number) =>
    fake
      .messages(id)
      .slice(seen.get(id) ?? 0)
      .map((message) => message.text ?? '');

  function monitor(
    { instanceId, ...options }: Partial<AlertMonitorOptions> & { instanceId?: string } = {},
    database: Db = db().db,
  ): AlertMonitor {
    const collections = getCollections(database);
    const created = new AlertMonitor({
      runs: new RunHistory(collections.runs),
      alerts: new AlertsRepository(collections.alerts, instanceId ?? `${hostname()}:${process.pid}`),
      api: createBulkApi(
        fake.token,
        fake.apiRoot,
        createApiPolicy({
          limiter: createRateLimiter({ maxPerSecond: 1_000, perChatPerSecond: 1_000 }),
          maxRetryAfterSeconds: 5,
          maxRateLimitRetries: 5,
        }),
      ),
      adminIds: ADMINS,
      deletions: createRepositories(db().collections).pendingDeletions,
      logger: logs.logger,
      deletionLagMs: 15 * 60_000,
      clock: () => NOW,
      ...options,
    });
    cleanups.push(() => created.stop());
    return created;
  }

  /**
   * A runtime whose one job fails or succeeds as the test says. Its clock ticks a second per reading
   * so runs order strictly; it starts from the real time because the history expires by TTL.
   */
  function runtime(outcome: { fail: boolean }, instanceId: string, database: Db = db().db) {
    let tick = Date.now();
    const created = testRuntime({
      db: database,
      jobs: [
        {
          name: JOB,
          schedule: LEAP_DAY,
          description: 'test',
          run: async () => {
            if (outcome.fail)
              throw new Error(
                'Telegram said 502 Bad Gateway for bot123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef1234',
              );
            return { messagesDeleted: 1 };
          },
        },
      ],
      timezone: 'UTC',
      logger: logs.logger,
      instanceId,
      clock: () => {
        tick += 1_000;
        return new Date(tick);
      },
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    cleanups.push(() => created.stop());
    return created;
  }

  it('tells every admin once when a job fails three times in a row, and once when it recovers', async () => {
    const outcome = { fail: true };
    const r = runtime(outcome, 'a');
    const m = monitor();
    m.watch(r);

    for (let i = 0; i < 2; i++) {
      expect((await r.runNow(JOB)).status).toBe('failed');
      await m.whenIdle();
    }
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([0, 0]);

    await r.runNow(JOB);
    await m.whenIdle();
    for (const id of ADMINS) {
      expect(alertsOf(id)).toHaveLength(1);
      expect(alertsOf(id)[0]).toContain(`Scheduled job "${JOB}" failed 3 times in a row.`);
      expect(alertsOf(id)[0]).toContain('502 Bad Gateway');
      expect(alertsOf(id)[0]).not.toContain('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef1234');
    }

    // Still failing: no repeats.
    for (let i = 0; i < 3; i++) {
      await r.runNow(JOB);
      await m.whenIdle();
    }
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([1, 1]);

    outcome.fail = false;
    for (let i = 0; i < 2; i++) {
      expect((await r.runNow(JOB)).status).toBe('succeeded');
      await m.whenIdle();
    }
    for (const id of ADMINS) {
      expect(alertsOf(id)).toHaveLength(2);
      expect(alertsOf(id)[1]).toMatch(new RegExp(`^✅ Scheduled job "${JOB}" works again`));
    }
    expect(logs.messages()).toEqual(
      expect.arrayContaining([
        `alert raised: job ${JOB} failed 3 times in a row`,
        `alert resolved: job ${JOB} works again`,
      ]),
    );

    // A new streak is a new alert.
    outcome.fail = true;
    for (let i = 0; i < 3; i++) {
      await r.runNow(JOB);
      await m.whenIdle();
    }
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([3, 3]);
  });

  it('sends exactly one alert and one recovery when two instances share the database', async () => {
    const other = await db().connectAnother();
    const outcome = { fail: true };
    const a = runtime(outcome, 'a');
    const b = runtime(outcome, 'b', other.db);
    const ma = monitor({ instanceId: 'a' });
    const mb = monitor({ instanceId: 'b' }, other.db);
    ma.watch(a);
    mb.watch(b);

    // The failures are spread over both instances: "in a row" comes from the shared history.
    for (const r of [a, b, a]) expect((await r.runNow(JOB)).status).toBe('failed');
    // Both instances check at the same moment, as after two runs finishing together.
    await Promise.all([ma.checkJob(JOB), mb.checkJob(JOB), ma.whenIdle(), mb.whenIdle()]);
    await b.runNow(JOB);
    await Promise.all([ma.checkJob(JOB), mb.checkJob(JOB), ma.whenIdle(), mb.whenIdle()]);
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([1, 1]);

    outcome.fail = false;
    await b.runNow(JOB);
    await Promise.all([ma.checkJob(JOB), mb.checkJob(JOB), ma.whenIdle(), mb.whenIdle()]);
    await a.runNow(JOB);
    await Promise.all([ma.whenIdle(), mb.whenIdle()]);
    for (const id of ADMINS) {
      expect(alertsOf(id)).toHaveLength(2);
      expect(alertsOf(id)[0]).toMatch(/^⚠️ Scheduled job/);
      expect(alertsOf(id)[1]).toMatch(/^✅ Scheduled job/);
    }
    const state = await db()
      .db.collection(ALERTS_COLLECTION)
      .findOne({ _id: jobFailingAlert(JOB) as never });
    expect(state).toMatchObject({ active: false });
  });

  it('counts only finished runs: skipped and abandoned runs neither break nor extend a streak', async () => {
    const runs = db().db.collection<RunDoc>(RUNS_COLLECTION);
    const run = (n: number, status: RunDoc['status']): RunDoc => ({
      _id: `${JOB}:manual:${n}`,
      job: JOB,
      slot: null,
      trigger: 'manual',
      instance: 'x',
      status,
      started_at: minutes(n),
      finished_at: minutes(n),
      heartbeat_at: null,
      attempts: 1,
      result: null,
      error: status === 'failed' ? `Error: failure ${n}` : null,
      expire_at: FAR_FUTURE,
    });
    const m = monitor({ failureThreshold: 3 });
    await runs.insertMany([run(1, 'succeeded'), run(2, 'failed'), run(3, 'skipped'), run(4, 'failed')]);
    await m.checkJob(JOB);
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([0, 0]);

    await runs.insertMany([run(5, 'abandoned'), run(6, 'running'), run(7, 'failed'), run(8, 'skipped')]);
    await m.checkJob(JOB);
    expect(alertsOf(ADMINS[0]!)).toHaveLength(1);
    expect(alertsOf(ADMINS[0]!)[0]).toContain('Last error: Error: failure 7');

    await runs.insertMany([run(9, 'abandoned')]);
    await m.checkJob(JOB);
    expect(alertsOf(ADMINS[0]!)).toHaveLength(1);
    // Another job's success is not this job's recovery.
    await runs.insertOne({ ...run(10, 'succeeded'), _id: 'token-cleanup:manual:10', job: 'token-cleanup' });
    await m.checkJob(JOB);
    await m.checkJob('token-cleanup');
    expect(alertsOf(ADMINS[0]!)).toHaveLength(1);
  });

  it('alerts once when the oldest due deletion waits too long, once when it catches up, even with two instances', async () => {
    const other = await db().connectAnother();
    const ma = monitor({ instanceId: 'a' });
    const mb = monitor({ instanceId: 'b' }, other.db);
    const deletion = (deleteAt: Date): PendingDeletionDoc => ({
      user_id: 1,
      chat_id: 1,
      message_ids: [1],
      delete_at: deleteAt,
      content_id: 'c',
      created_at: minutes(-60),
    });

    await db().collections.pendingDeletions.insertMany([deletion(minutes(-15)), deletion(minutes(-1))]);
    await Promise.all([ma.checkNow(), mb.checkNow()]);
    expect(ADMINS.map((id) => alertsOf(id).length)).toEqual([0, 0]); // exactly at the threshold is not over it

    await db().collections.pendingDeletions.insertOne(deletion(minutes(-27)));
    await Promise.all([ma.checkNow(), mb.checkNow(), ma.checkNow()]);
    await Promise.all([ma.checkNow(), mb.checkNow()]);
    for (const id of ADMINS) {
      expect(alertsOf(id)).toEqual([
        expect.stringMatching(
          /^⚠️ Deletions are falling behind: the oldest due deletion has waited 27 min \(alert threshold: 15 min\); 3 deletions are due\./,
        ),
      ]);
    }

    await db().collections.pendingDeletions.deleteMany({ delete_at: { $lt: minutes(-10) } });
    await Promise.all([ma.checkNow(), mb.checkNow()]);
    await Promise.all([ma.checkNow(), mb.checkNow()]);
    for (const id of ADMINS) {
      expect(alertsOf(id)).toHaveLength(2);
      expect(alertsOf(id)[1]).toBe(
        '✅ Deletions have caught up: no due deletion has waited longer than 15 min (1 due now).',
      );
    }
    expect(
      await db()
        .db.collection(ALERTS_COLLECTION)
        .findOne({ _id: DELETION_LAG_ALERT as never }),
    ).toMatchObject({
      active: false,
    });
  });

  it('checks the deletion lag periodically once started', async () => {
    await db().collections.pendingDeletions.insertOne({
      user_id: 1,
      chat_id: 1,
      message_ids: [1],
      delete_at: minutes(-60),
      content_id: 'c',
      created_at: minutes(-90),
    });
    let now = minutes(-50); // at first nothing has waited long enough
    const m = monitor({ lagCheckIntervalMs: 10, clock: () => now });
    m.start();
    await m.whenIdle();
    expect(alertsOf(ADMINS[0]!)).toHaveLength(0);
    now = NOW;
    await waitFor(() => alertsOf(ADMINS[0]!).length === 1, {
      message: 'the periodic check raising the alert',
    });
    await m.stop();
    expect(alertsOf(ADMINS[1]!)).toHaveLength(1);
  });

  it('logs sending failures and database failures instead of throwing, and still tells the reachable admins', async () => {
    const unknownAdmin = 999_999;
    const blockedAdmin = ADMINS[1]!;
    fake.blockBot(blockedAdmin);
    cleanups.push(async () => fake.unblockBot(blockedAdmin));
    const m = monitor({ adminIds: [unknownAdmin, ...ADMINS], failureThreshold: 1 });
    await db()
      .db.collection<RunDoc>(RUNS_COLLECTION)
      .insertOne({
        _id: `${JOB}:manual:1`,
        job: JOB,
        slot: null,
        trigger: 'manual',
        instance: 'x',
        status: 'failed',
        started_at: NOW,
        finished_at: NOW,
        heartbeat_at: null,
        attempts: 1,
        result: null,
        error: 'Error: boom',
        expire_at: FAR_FUTURE,
      });
    await expect(m.checkJob(JOB)).resolves.toBeUndefined();
    expect(alertsOf(ADMINS[0]!)).toHaveLength(1);
    const failures = logs
      .records()
      .filter((record) => record.msg?.startsWith('could not send an alert to an admin'));
    expect(failures.map((record) => [record.adminId, record.retry])).toEqual([
      [unknownAdmin, false],
      [blockedAdmin, false],
    ]);
    // Refusals are final: nobody is left to resend to.
    const state = await db()
      .db.collection(ALERTS_COLLECTION)
      .findOne({ _id: jobFailingAlert(JOB) as never });
    expect(state).toMatchObject({ active: true, undelivered: [], sending_until: null });

    const broken = monitor({
      deletions: {
        countDue: async () => {
          throw new Error('connection refused');
        },
        oldestDue: async () => null,
      },
    });
    await expect(broken.checkNow()).resolves.toBeUndefined();
    expect(logs.messages()).toContain('alert check failed; it runs again on the next occasion');
  });

  it('resends to admins Telegram could not reach for now, once, whichever instance gets there first', async () => {
    const other = await db().connectAnother();
    const ma = monitor({ instanceId: 'a' });
    const mb = monitor({ instanceId: 'b' }, other.db);
    const [reached, missed] = ADMINS as [number, number];
    await db().collections.pendingDeletions.insertOne({
      user_id: 1,
      chat_id: 1,
      message_ids: [1],
      delete_at: minutes(-60),
      content_id: 'c',
      created_at: minutes(-90),
    });
    fake.injectFault({ method: 'sendMessage', chatId: missed, status: 502 });
    await ma.checkNow();
    expect(alertsOf(reached)).toHaveLength(1);
    expect(alertsOf(missed)).toHaveLength(0);
    expect(logs.messages()).toContain('could not send an alert to an admin; it is retried later');

    await Promise.all([ma.redeliver(), mb.redeliver()]);
    await Promise.all([ma.redeliver(), mb.redeliver()]);
    expect(alertsOf(reached)).toHaveLength(1);
    expect(alertsOf(missed)).toEqual(alertsOf(reached));

    // The recovery goes through the same path.
    fake.injectFault({ method: 'sendMessage', chatId: reached, status: 500 });
    await db().collections.pendingDeletions.deleteMany({});
    await mb.checkNow();
    expect(alertsOf(reached)).toHaveLength(1);
    expect(alertsOf(missed)).toHaveLength(2);
    await Promise.all([ma.redeliver(), mb.redeliver()]);
    expect(alertsOf(reached)).toEqual(alertsOf(missed));
  });

  it('warns in the log when there is nobody to tell', async () => {
    const m = monitor({ adminIds: [] });
    await db().collections.pendingDeletions.insertOne({
      user_id: 1,
      chat_id: 1,
      message_ids: [1],
      delete_at: minutes(-60),
      content_id: 'c',
      created_at: minutes(-90),
    });
    await m.checkNow();
    expect(logs.messages()).toEqual(
      expect.arrayContaining([
        'alert raised: deletions are falling behind, the oldest due deletion has waited 1 h (threshold 15 min)',
        'no ADMIN_IDS configured: nobody can be told about this alert in Telegram',
      ]),
    );
  });

  it('formats durations for people', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(27 * 60_000 + 59_000)).toBe('27 min');
    expect(formatDuration(125 * 60_000)).toBe('2 h 5 min');
    expect(formatDuration(3 * 3_600_000)).toBe('3 h');
    expect(formatDuration(76 * 3_600_000)).toBe('3 d 4 h');
  });
});
