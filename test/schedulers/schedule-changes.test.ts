import { randomUUID } from 'node:crypto';
import { type Db, MongoClient } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getCollections, type JobControlDoc, type RunDoc } from '../../db/collections.js';
import { JobControlsRepository } from '../../db/repositories/job-controls.js';
import { RunsRepository } from '../../db/repositories/runs.js';
import { type JobDefinition, UnknownJobError } from '../../schedulers/job.js';
import { JOB_NAMES } from '../../schedulers/jobs/catalog.js';
import { SchedulerRuntime, type SchedulerRuntimeOptions } from '../../schedulers/runtime.js';
import { type CapturedLogger, captureLogs } from '../support/logs.js';
import { type TestRuntimeOptions, testRuntime } from '../support/runtime.js';
import { useTestDatabase } from '../support/test-db.js';
import { useOwnMongo } from '../support/use-own-mongo.js';
import { deferred, waitFor } from '../support/wait.js';

const EVERY_SECOND = '*/1 * * * * *';
/** Daily, twelve hours away: it never fires on its own while a test runs. */
const DAILY = `0 ${(new Date().getUTCHours() + 12) % 24} * * *`;
const JOB = JOB_NAMES[0] as string;

/** The catalog's jobs, on the daily default, recording every run they make. */
function catalogJobs(ran: Array<{ job: string; trigger: string }> = []): JobDefinition[] {
  return JOB_NAMES.map((name) => ({
    name,
    schedule: DAILY,
    description: 'test',
    run: async (ctx) => {
      ran.push({ job: ctx.job, trigger: ctx.trigger });
      return {};
    },
  }));
}

/** Every (job, expression) the runtime applied, in order. */
function appliedLog() {
  const calls: Array<[string, string]> = [];
  return {
    calls,
    hook: (job: string, expression: string) => calls.push([job, expression]),
    last: (job: string) => calls.filter(([name]) => name === job).at(-1)?.[1],
  };
}

describe('schedules changed while the bot runs (#15)', () => {
  const db = useTestDatabase();
  const runtimes: SchedulerRuntime[] = [];
  let logs: CapturedLogger;

  const runs = () => db().collections.runs;
  const controls = () => db().collections.jobControls;

  function runtime(options: Partial<TestRuntimeOptions> = {}, database: Db = db().db) {
    const created = testRuntime({
      db: database,
      jobs: catalogJobs(),
      timezone: 'UTC',
      logger: logs.logger,
      retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 100 },
      heartbeatIntervalMs: 50,
      historyDays: 36_500,
      ...options,
    });
    runtimes.push(created);
    return created;
  }

  beforeEach(async () => {
    logs = captureLogs();
    await runs().deleteMany({});
    await controls().deleteMany({});
  });

  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stop({ timeoutMs: 2_000 })));
  });

  it('a schedule set on one instance is applied by another within its refresh, whose timer then fires on it', async () => {
    const other = await db().connectAnother();
    const onA = appliedLog();
    const onB = appliedLog();
    // A refreshes too rarely to matter here: what B does, it does from job_controls.
    const a = runtime({ instanceId: 'a', controlsRefreshMs: 60_000, onScheduleApplied: onA.hook });
    const b = runtime({ instanceId: 'b', controlsRefreshMs: 200, onScheduleApplied: onB.hook }, other.db);
    await Promise.all([a.start(), b.start()]);
    expect(onB.calls).toEqual(JOB_NAMES.map((name) => [name, DAILY]));

    expect(await a.setSchedule(JOB, EVERY_SECOND, 'admin:1')).toEqual({
      ok: true,
      schedule: EVERY_SECOND,
      previous: DAILY,
      isDefault: false,
    });
    expect(onA.last(JOB)).toBe(EVERY_SECOND);
    // Only B may run it from now on.
    await a.stop();

    await waitFor(() => onB.last(JOB) === EVERY_SECOND, { message: 'B to apply the new schedule' });
    const line = logs
      .records()
      .find((record) => record.instance === 'b' && record.job === JOB && record.previous === DAILY);
    expect(line).toMatchObject({ level: 'info', schedule: EVERY_SECOND });
    await waitFor(
      () => runs().findOne({ job: JOB, trigger: 'scheduled', instance: 'b', status: 'succeeded' }),
      { message: 'a scheduled run on B', timeoutMs: 5_000 },
    );
    const stats = (await b.stats()).find((job) => job.name === JOB);
    expect(stats).toMatchObject({
      schedule: EVERY_SECOND,
      scheduleText: 'every second (UTC)',
      defaultSchedule: DAILY,
      scheduleOverride: { changedBy: 'admin:1', changedAt: expect.any(Date) },
    });
    expect(stats?.nextRun?.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    // The other jobs did not move.
    expect(onB.calls.filter(([name]) => name !== JOB).every(([, expression]) => expression === DAILY)).toBe(
      true,
    );
  });

  it('applies a change here at once, keeps it across a restart, and goes back to the default', async () => {
    const ran: Array<{ job: string; trigger: string }> = [];
    const first = runtime({ instanceId: 'first', controlsRefreshMs: 60_000, jobs: catalogJobs(ran) });
    await first.start();
    await first.setSchedule(JOB, `  ${EVERY_SECOND.replaceAll(' ', '   ')} `, 'admin:1');
    // No refresh comes within this test: the timer was replaced by setSchedule itself.
    await waitFor(() => runs().findOne({ job: JOB, trigger: 'scheduled', instance: 'first' }), {
      message: 'a scheduled run on the new schedule',
      timeoutMs: 5_000,
    });
    await first.stop();
    expect(await controls().findOne({ _id: JOB })).toMatchObject({
      schedule: EVERY_SECOND,
      schedule_changed_by: 'admin:1',
    });

    const applied = appliedLog();
    const second = runtime({
      instanceId: 'second',
      controlsRefreshMs: 60_000,
      onScheduleApplied: applied.hook,
    });
    await second.start();
    expect(applied.calls).toEqual(JOB_NAMES.map((name) => [name, name === JOB ? EVERY_SECOND : DAILY]));
    expect(logs.messages()).toContain(`${JOB}: every second (UTC) (set at run time)`);
    await waitFor(() => runs().findOne({ job: JOB, trigger: 'scheduled', instance: 'second' }), {
      message: 'a scheduled run after the restart',
      timeoutMs: 5_000,
    });

    expect(await second.setSchedule(JOB, null, 'admin:2')).toEqual({
      ok: true,
      schedule: DAILY,
      previous: EVERY_SECOND,
      isDefault: true,
    });
    expect(applied.last(JOB)).toBe(DAILY);
    const stored = await controls().findOne({ _id: JOB });
    expect(stored?.schedule).toBeUndefined();
    expect(stored?.schedule_changed_by).toBe('admin:2');
    const stats = (await second.stats()).find((job) => job.name === JOB);
    expect(stats).toMatchObject({ schedule: DAILY, scheduleOverride: null });
    expect(stats?.nextRun?.getTime()).toBeGreaterThan(Date.now() + 60_000);
    expect(logs.records().some((record) => record.by === 'admin:2' && record.isDefault === true)).toBe(true);
  });

  it('refuses an invalid cron expression and what the schedule rule refuses, and changes nothing', async () => {
    const judged: Array<[string, string]> = [];
    const r = runtime({
      scheduleRule: async (job, expression) => {
        judged.push([job, expression]);
        return expression === '0 0 1 * *' ? 'too sparse for this job' : undefined;
      },
    });
    await r.start();
    const invalid = await r.setSchedule(JOB, '61 * * * *', 'admin:1');
    expect(invalid).toEqual({
      ok: false,
      problem: '"61 * * * *" is not a valid cron expression: 61 is a invalid expression for minute',
    });
    expect(await r.setSchedule(JOB, '0 0 1 * *', 'admin:1')).toEqual({
      ok: false,
      problem: 'too sparse for this job',
    });
    expect(await r.setSchedule(JOB, '   ', 'admin:1')).toMatchObject({ ok: false, problem: /empty/ });
    expect(await r.setSchedule(JOB, '*'.repeat(500), 'admin:1')).toMatchObject({
      ok: false,
      problem: /longer than/,
    });
    expect(await r.checkSchedule(JOB, '61 * * * *')).toBe(invalid.ok ? undefined : invalid.problem);
    expect(await r.checkSchedule(JOB, '0 0 1 * *')).toBe('too sparse for this job');
    expect(await r.checkSchedule(JOB, ' */5  * * * * ')).toBeUndefined();
    // The rule sees the expression as it would be stored; invalid cron never reaches it.
    expect(judged).toEqual([
      [JOB, '0 0 1 * *'],
      [JOB, '0 0 1 * *'],
      [JOB, '*/5 * * * *'],
    ]);
    await expect(r.setSchedule('nope', EVERY_SECOND)).rejects.toThrow(UnknownJobError);
    await expect(r.checkSchedule('nope', EVERY_SECOND)).rejects.toThrow(/unknown job "nope"/);
    expect(await controls().countDocuments()).toBe(0);
    expect((await r.stats()).every((job) => job.schedule === DAILY && job.scheduleOverride === null)).toBe(
      true,
    );
  });

  it('logs a schedule edited by hand into something invalid once, and keeps the job on its schedule', async () => {
    await controls().insertOne({ _id: JOB, schedule: 'every tuesday' });
    const applied = appliedLog();
    let reads = 0;
    const r = instrumentedRuntime(db().db, logs, {
      controlsRefreshMs: 50,
      onScheduleApplied: applied.hook,
      onRead: () => reads++,
    });
    runtimes.push(r);
    await r.start();
    await waitFor(() => reads >= 5, { message: 'several refreshes' });
    expect(applied.calls).toEqual(JOB_NAMES.map((name) => [name, DAILY]));
    const refusals = logs.records().filter((record) => record.level === 'error' && record.job === JOB);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.msg).toMatch(
      /stored in job_controls is not applied: "every tuesday" is not a valid cron/,
    );

    // Fixed by hand again: applied at the next refresh.
    await controls().updateOne({ _id: JOB }, { $set: { schedule: '0 4 * * *' } });
    await waitFor(() => applied.last(JOB) === '0 4 * * *', { message: 'the fixed schedule to apply' });
  });

  it('pauses and resumes every job at once', async () => {
    const r = runtime();
    await r.pauseAll('admin:7');
    const paused = await controls().find({}).sort({ _id: 1 }).toArray();
    expect(paused.map((doc) => doc._id)).toEqual([...JOB_NAMES].sort());
    expect(paused.every((doc) => doc.paused === true && doc.changed_by === 'admin:7')).toBe(true);
    expect((await r.stats()).every((job) => job.paused)).toBe(true);

    await r.resumeAll('admin:8');
    expect((await r.stats()).every((job) => !job.paused)).toBe(true);
    expect(await controls().countDocuments({ paused: false, changed_by: 'admin:8' })).toBe(JOB_NAMES.length);
  });

  it('startRun answers once the claim is decided: started here, busy on another instance', async () => {
    const release = deferred();
    const started = deferred();
    const blocking = catalogJobs().map((job) =>
      job.name === JOB
        ? {
            ...job,
            run: async () => {
              started.resolve();
              await release.promise;
              return { done: 1 };
            },
          }
        : job,
    );
    const other = await db().connectAnother();
    const a = runtime({ instanceId: 'a', jobs: blocking });
    const b = runtime({ instanceId: 'b' }, other.db);

    const first = await a.startRun(JOB, { requestedBy: 'admin:1' });
    // Answered while the run still waits for its release.
    expect(first).toMatchObject({ status: 'started', runId: expect.stringMatching(`^${JOB}:manual:`) });
    await started.promise;
    const second = await b.startRun(JOB);
    expect(second).toEqual({
      status: 'busy',
      reason: expect.stringMatching(/:manual:.* was still running on a$/),
    });
    // runNow on top of startRun still answers with the skipped run.
    expect(await b.runNow(JOB)).toMatchObject({ status: 'skipped', trigger: 'manual' });

    release.resolve();
    if (first.status !== 'started') throw new Error('not started');
    expect(await first.finished).toMatchObject({
      runId: first.runId,
      status: 'succeeded',
      result: { done: 1 },
    });
    expect(await runs().findOne({ _id: first.runId })).toMatchObject({
      status: 'succeeded',
      requested_by: 'admin:1',
    });
    // A stopping instance answers busy (the API's 409), and claims nothing.
    await b.stop();
    expect(await b.startRun(JOB)).toEqual({
      status: 'busy',
      reason: 'this instance is stopping; try again on another instance',
    });
    expect(await runs().countDocuments({ job: JOB, instance: 'b', status: { $ne: 'skipped' } })).toBe(0);
  });

  it('counts the last 24 hours of succeeded and failed runs by the runtime clock', async () => {
    const now = new Date('2026-03-10T12:00:00Z');
    const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000);
    const run = (job: string, status: RunDoc['status'], startedAt: Date): RunDoc => ({
      _id: `${job}:${randomUUID()}`,
      job,
      slot: null,
      trigger: 'manual',
      instance: 'earlier',
      status,
      started_at: startedAt,
      finished_at: startedAt,
      heartbeat_at: null,
      attempts: 1,
      result: {},
      error: status === 'failed' ? 'boom' : null,
      expire_at: new Date('2100-01-01'),
    });
    const [first, second] = JOB_NAMES as [string, string];
    await runs().insertMany([
      run(first, 'succeeded', hoursAgo(1)),
      run(first, 'succeeded', hoursAgo(23.9)),
      run(first, 'failed', hoursAgo(2)),
      run(first, 'succeeded', hoursAgo(24.1)),
      run(first, 'skipped', hoursAgo(1)),
      run(first, 'abandoned', hoursAgo(1)),
      run(second, 'failed', hoursAgo(30)),
    ]);
    const stats = await runtime({ clock: () => now }).stats();
    expect(stats.find((job) => job.name === first)).toMatchObject({
      last24h: { succeeded: 2, failed: 1 },
      counts: { succeeded: 3, failed: 1, skipped: 1, abandoned: 1 },
    });
    expect(stats.find((job) => job.name === second)?.last24h).toEqual({ succeeded: 0, failed: 0 });
  });

  it('catches up the latest slot of the schedule in effect, but not one from before it was set', async () => {
    // The job has run before; its stored schedule is daily at 00:00, set at 05:00 today.
    const ran: Array<{ job: string; trigger: string }> = [];
    const clock = () => new Date('2024-02-29T10:00:00Z');
    await runs().insertOne({
      _id: `${JOB}:2024-02-28T03:00:00.000Z`,
      job: JOB,
      slot: new Date('2024-02-28T03:00:00Z'),
      trigger: 'scheduled',
      instance: 'earlier',
      status: 'succeeded',
      started_at: new Date('2024-02-28T03:00:00Z'),
      finished_at: new Date('2024-02-28T03:00:00Z'),
      heartbeat_at: null,
      attempts: 1,
      result: {},
      error: null,
      expire_at: new Date('2100-01-01'),
    });
    const stored = (changedAt: string): JobControlDoc => ({
      _id: JOB,
      schedule: '0 0 * * *',
      schedule_changed_at: new Date(changedAt),
    });
    await controls().insertOne(stored('2024-02-29T05:00:00Z'));
    const later = runtime({ clock, jobs: catalogJobs(ran) });
    await later.start();
    await later.waitForIdle();
    expect(ran).toEqual([]);
    await later.stop();

    // Set before that slot: the slot was due and missed.
    await controls().replaceOne({ _id: JOB }, stored('2024-02-28T23:00:00Z'));
    const earlier = runtime({ clock, jobs: catalogJobs(ran) });
    await earlier.start();
    await earlier.waitForIdle();
    expect(ran).toEqual([{ job: JOB, trigger: 'catch-up' }]);
  });
});

describe('schedules while the database is unreachable', () => {
  const DB_NAME = 'schedule_outage';
  const { emulator, db } = useOwnMongo(DB_NAME);
  const clients: MongoClient[] = [];
  let r: SchedulerRuntime | undefined;

  afterEach(async () => {
    await r?.stop({ timeoutMs: 2_000 });
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  it('a refresh without the database is a warning, not a crash, and the change applies once it is back', async () => {
    const logs = captureLogs();
    const client = new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 300 });
    clients.push(client);
    await client.connect();
    const applied = appliedLog();
    let reads = 0;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const warnings = () =>
      logs.records().filter((record) => /could not read the job controls/.test(String(record.msg)));
    try {
      r = instrumentedRuntime(client.db(DB_NAME), logs, {
        controlsRefreshMs: 100,
        onScheduleApplied: applied.hook,
        onRead: () => reads++,
      });
      await r.start();

      await emulator.stop();
      await waitFor(() => warnings().length > 0, { message: 'a failed refresh' });
      expect(warnings()[0]?.level).toBe('warn');
      // It keeps trying, without a warning each time.
      const failedSoFar = reads;
      await waitFor(() => reads >= failedSoFar + 3, { message: 'more refreshes' });
      expect(warnings()).toHaveLength(1);
      expect(r.isStarted).toBe(true);

      await emulator.start();
      await getCollections(db).jobControls.insertOne({ _id: JOB, schedule: EVERY_SECOND });
      await waitFor(() => applied.last(JOB) === EVERY_SECOND, {
        message: 'the change to apply once the database is back',
        timeoutMs: 15_000,
      });
      expect(logs.messages()).toContain('the job controls can be read again');
      expect(r.isStarted).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

/** A runtime whose job-controls reads the test can count (each refresh reads once). */
function instrumentedRuntime(
  database: Db,
  logs: CapturedLogger,
  options: Partial<SchedulerRuntimeOptions> & { onRead: () => void },
): SchedulerRuntime {
  const collections = getCollections(database);
  const { onRead, ...rest } = options;
  class CountingControls extends JobControlsRepository {
    override async all() {
      onRead();
      return super.all();
    }
  }
  return new SchedulerRuntime({
    runs: new RunsRepository(collections.runs, {
      instanceId: `test:${randomUUID().slice(0, 8)}`,
      historyMs: 36_500 * 86_400_000,
      leaseMs: 60_000,
    }),
    controls: new CountingControls(collections.jobControls),
    jobs: catalogJobs(),
    timezone: 'UTC',
    logger: logs.logger,
    ...rest,
  });
}
