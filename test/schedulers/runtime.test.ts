import type { Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTION_NAMES, type RunDoc } from '../../db/collections.js';
import type { JobContext, JobDefinition } from '../../schedulers/job.js';
import type { SchedulerRuntime } from '../../schedulers/runtime.js';
import { type CapturedLogger, captureLogs } from '../support/logs.js';
import { type TestRuntimeOptions, testRuntime } from '../support/runtime.js';
import { useTestDatabase } from '../support/test-db.js';
import { deferred, waitFor } from '../support/wait.js';

const RUNS_COLLECTION = COLLECTION_NAMES.runs;

const EVERY_SECOND = '* * * * * *';
/** Fires only on 29 February: tests that drive time through the injected clock never see a real tick. */
const LEAP_DAY = '0 0 29 2 *';

describe('scheduler runtime', () => {
  const db = useTestDatabase();
  const runtimes: SchedulerRuntime[] = [];
  let logs: CapturedLogger;

  const runs = () => db().db.collection<RunDoc>(RUNS_COLLECTION);

  function runtime(jobs: JobDefinition[], options: Partial<TestRuntimeOptions> = {}, database: Db = db().db) {
    const created = testRuntime({
      db: database,
      jobs,
      timezone: 'UTC',
      logger: logs.logger,
      retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 100 },
      heartbeatIntervalMs: 50,
      // Runs stamped with an injected clock in the past must not expire under the TTL sweep mid-test.
      historyDays: 36_500,
      ...options,
    });
    runtimes.push(created);
    return created;
  }

  beforeEach(async () => {
    logs = captureLogs();
    await db().db.collection(RUNS_COLLECTION).deleteMany({});
    await db().db.collection('scheduler_jobs').deleteMany({});
  });

  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stop({ timeoutMs: 2_000 })));
  });

  it('logs one line per job with its schedule in plain words and time zone', async () => {
    const r = runtime([
      { name: 'token-cleanup', schedule: '0 0,12 * * *', description: 'd', run: async () => ({}) },
      { name: 'message-deleter', schedule: '* * * * *', description: 'd', run: async () => ({}) },
    ]);
    await r.start();
    expect(logs.messages()).toEqual(
      expect.arrayContaining([
        'token-cleanup: at 00:00 and 12:00 (UTC)',
        'message-deleter: every minute (UTC)',
      ]),
    );
  });

  it('runs every slot exactly once across two instances with separate clients', async () => {
    const executions: Array<{ slot: string; instance: string }> = [];
    const job = (instance: string): JobDefinition => ({
      name: 'message-deleter',
      schedule: EVERY_SECOND,
      description: 'test',
      run: async (ctx) => {
        executions.push({ slot: ctx.slot?.toISOString() ?? 'none', instance });
        return { n: 1 };
      },
    });
    const other = await db().connectAnother();
    const a = runtime([job('a')], { instanceId: 'a' });
    const b = runtime([job('b')], { instanceId: 'b' }, other.db);
    await Promise.all([a.start(), b.start()]);

    await waitFor(async () => (await runs().countDocuments({ status: 'succeeded' })) >= 4, {
      timeoutMs: 15_000,
      message: 'four scheduled slots',
    });
    await Promise.all([a.stop(), b.stop()]);

    const claims = await runs().find({ job: 'message-deleter' }).toArray();
    const bySlot = new Map<string, RunDoc[]>();
    for (const claim of claims) bySlot.set(claim._id, [...(bySlot.get(claim._id) ?? []), claim]);
    expect([...bySlot.values()].every((list) => list.length === 1)).toBe(true);

    const succeeded = claims.filter((claim) => claim.status === 'succeeded');
    const executedSlots = executions.map((execution) => execution.slot);
    expect(new Set(executedSlots).size).toBe(executedSlots.length);
    expect(executedSlots.sort()).toEqual(succeeded.map((claim) => claim.slot?.toISOString()).sort());
    expect(succeeded.every((claim) => claim.trigger === 'scheduled' && claim.attempts === 1)).toBe(true);
    expect(new Set(succeeded.map((claim) => claim.instance)).size).toBeGreaterThanOrEqual(1);
  });

  it('skips a manual run while the same job runs on another instance, and records why', async () => {
    const release = deferred();
    const started = deferred();
    const blocking: JobDefinition = {
      name: 'broadcast-deleter',
      schedule: LEAP_DAY,
      description: 'test',
      run: async () => {
        started.resolve();
        await release.promise;
        return { done: 1 };
      },
    };
    let ranOnB = false;
    const other = await db().connectAnother();
    const a = runtime([blocking], { instanceId: 'a' });
    const b = runtime(
      [
        {
          ...blocking,
          run: async () => {
            ranOnB = true;
            return { done: 1 };
          },
        },
      ],
      { instanceId: 'b' },
      other.db,
    );

    const first = a.runNow('broadcast-deleter', { requestedBy: 'admin:1' });
    await started.promise;
    const second = await b.runNow('broadcast-deleter');
    expect(second).toMatchObject({ status: 'skipped', trigger: 'manual' });
    expect(second.reason).toMatch(/broadcast-deleter:manual:.* was still running on a/);
    expect(ranOnB).toBe(false);

    release.resolve();
    expect(await first).toMatchObject({ status: 'succeeded', result: { done: 1 } });
    const history = await runs().find({}).sort({ started_at: 1 }).toArray();
    expect(history.map((run) => [run.instance, run.status])).toEqual(
      expect.arrayContaining([
        ['a', 'succeeded'],
        ['b', 'skipped'],
      ]),
    );
    expect(history.find((run) => run.instance === 'a')?.requested_by).toBe('admin:1');
  });

  it('retries a throwing job with growing delays, records the failure, and runs the next slot normally', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let calls = 0;
    const r = runtime(
      [
        {
          name: 'token-cleanup',
          schedule: EVERY_SECOND,
          description: 'test',
          retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 1_000 },
          run: async () => {
            calls++;
            if (calls <= 3) throw new Error(`database hiccup #${calls}`);
            return { deleted: 5 };
          },
        },
      ],
      { retry: undefined },
    );
    await r.start();
    const done = await waitFor(
      async () => {
        const list = await runs()
          .find({ status: { $in: ['failed', 'succeeded'] } })
          .sort({ slot: 1 })
          .toArray();
        return list.some((run) => run.status === 'succeeded') ? list : undefined;
      },
      { timeoutMs: 15_000, message: 'a failed run followed by a successful one' },
    );
    await r.stop();
    process.off('unhandledRejection', onUnhandled);

    expect(done[0]).toMatchObject({ status: 'failed', attempts: 3, error: 'Error: database hiccup #3' });
    expect(done[1]).toMatchObject({ status: 'succeeded', attempts: 1, result: { deleted: 5 } });
    const retries = logs.records().filter((record) => record.msg === 'attempt failed; retrying');
    expect(retries.map((record) => [record.attempt, record.delayMs])).toEqual([
      [1, 20],
      [2, 40],
    ]);
    const failedLine = logs
      .records()
      .find((record) => record.msg === 'token-cleanup run failed after 3 attempt(s)');
    expect((failedLine?.err as { stack?: string })?.stack).toContain('database hiccup #3');
    expect(unhandled).toEqual([]);
  });

  it('aborts a hanging attempt at the job timeout and counts it as a failed attempt', async () => {
    const r = runtime([
      {
        name: 'token-count-reset',
        schedule: LEAP_DAY,
        description: 'test',
        timeoutMs: 100,
        run: (ctx) =>
          new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      },
    ]);
    const outcome = await r.runNow('token-count-reset');
    expect(outcome).toMatchObject({ status: 'failed', attempts: 1 });
    expect(outcome.error).toMatch(/RunTimeoutError: attempt timed out after 100 ms/);
  });

  it('stop() aborts a long run through its signal, keeps what it did, and is safe to call twice', async () => {
    const started = deferred();
    let sawAbort = false;
    const r = runtime([
      {
        name: 'broadcast-deleter',
        schedule: LEAP_DAY,
        description: 'test',
        run: async (ctx: JobContext) => {
          let batches = 0;
          started.resolve();
          while (!ctx.signal.aborted) {
            batches++;
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          sawAbort = true;
          return { batches };
        },
      },
    ]);
    await r.start();
    const outcome = r.runNow('broadcast-deleter');
    await started.promise;
    await Promise.all([r.stop({ timeoutMs: 5_000 }), r.stop({ timeoutMs: 5_000 })]);
    expect(sawAbort).toBe(true);
    const result = await outcome;
    expect(result.status).toBe('abandoned');
    expect(result.result?.batches).toBeGreaterThan(0);
    expect(await runs().findOne({ _id: result.runId })).toMatchObject({ status: 'abandoned' });
    await expect(r.runNow('broadcast-deleter')).rejects.toThrow(/stopping/);
  });

  it('stop() returns within its budget when a job ignores its signal, and the run keeps its claim alive', async () => {
    // Must hold: a run whose work is still going is never finished or declared over by its own
    // process; its claim stays `running` with fresh heartbeats, so nothing runs beside it.
    const started = deferred();
    const r = runtime(
      [
        {
          name: 'message-deleter',
          schedule: LEAP_DAY,
          description: 'test',
          run: () => {
            started.resolve();
            return new Promise(() => {});
          },
        },
      ],
      { abortGraceMs: 50, leaseMs: 2_000 },
    );
    void r.runNow('message-deleter');
    await started.promise;
    await r.stop({ timeoutMs: 300 });
    await waitFor(() =>
      logs.messages().includes('some jobs did not stop in time; their claims will be released by lease'),
    );
    expect(logs.messages()).toContain(
      'the job is still running after being asked to stop; waiting for it (its claim stays alive)',
    );
    const claim = await runs().findOne({ job: 'message-deleter' });
    expect(claim?.status).toBe('running');
    const beatBefore = claim?.heartbeat_at?.getTime() ?? 0;
    await waitFor(
      async () =>
        ((await runs().findOne({ job: 'message-deleter' }))?.heartbeat_at?.getTime() ?? 0) > beatBefore,
      { message: 'a heartbeat after stop()' },
    );
    const other = runtime(
      [{ name: 'message-deleter', schedule: LEAP_DAY, description: 't', run: async () => ({}) }],
      {
        instanceId: 'other',
        leaseMs: 2_000,
      },
    );
    expect(await other.runNow('message-deleter')).toMatchObject({ status: 'skipped' });
  });

  describe('catch-up after downtime', () => {
    const job = (executions: Date[]): JobDefinition => ({
      name: 'token-count-reset',
      schedule: LEAP_DAY,
      description: 'test',
      run: async (ctx) => {
        executions.push(ctx.slot as Date);
        return {};
      },
    });
    const ranAt = async (slot: string) => {
      await runs().insertOne({
        _id: `token-count-reset:${slot}`,
        job: 'token-count-reset',
        slot: new Date(slot),
        trigger: 'scheduled',
        instance: 'earlier',
        status: 'succeeded',
        started_at: new Date(slot),
        finished_at: new Date(slot),
        heartbeat_at: null,
        attempts: 1,
        result: {},
        error: null,
        expire_at: new Date('2100-01-01'),
      });
    };

    it('runs exactly one coalesced catch-up for the latest missed slot', async () => {
      await ranAt('2016-02-29T00:00:00.000Z');
      const executions: Date[] = [];
      const r = runtime([job(executions)], { clock: () => new Date('2024-02-29T10:00:00Z') });
      await r.start();
      await r.waitForIdle();
      expect(executions).toEqual([new Date('2024-02-29T00:00:00Z')]);
      expect(await runs().findOne({ _id: 'token-count-reset:2024-02-29T00:00:00.000Z' })).toMatchObject({
        trigger: 'catch-up',
        status: 'succeeded',
      });
      expect(logs.records().find((record) => record.missedSlots !== undefined)?.missedSlots).toBe(2);
    });

    it('does nothing when the latest slot was handled, or when nothing ever ran', async () => {
      const executions: Date[] = [];
      const fresh = runtime([job(executions)], { clock: () => new Date('2024-02-29T10:00:00Z') });
      await fresh.start();
      await fresh.waitForIdle();
      expect(executions).toEqual([]);

      await ranAt('2024-02-29T00:00:00.000Z');
      const restarted = runtime([job(executions)], { clock: () => new Date('2024-02-29T23:00:00Z') });
      await restarted.start();
      await restarted.waitForIdle();
      expect(executions).toEqual([]);
    });

    it('skips a missed slot beyond the grace window, with a log line', async () => {
      await ranAt('2020-02-29T00:00:00.000Z');
      const executions: Date[] = [];
      const r = runtime([job(executions)], {
        clock: () => new Date('2024-02-29T10:00:00Z'),
        catchUpGraceMs: 60 * 60_000,
      });
      await r.start();
      await r.waitForIdle();
      expect(executions).toEqual([]);
      expect(
        logs
          .messages()
          .some((message) => /no catch-up, the missed run .* older than the catch-up window/.test(message)),
      ).toBe(true);
    });

    it('is claimed once when several instances start together', async () => {
      await ranAt('2020-02-29T00:00:00.000Z');
      const executions: Date[] = [];
      const clock = () => new Date('2024-02-29T10:00:00Z');
      const others = await Promise.all([db().connectAnother(), db().connectAnother()]);
      const instances = [
        runtime([job(executions)], { clock, instanceId: 'a' }),
        ...others.map((other, i) => runtime([job(executions)], { clock, instanceId: `b${i}` }, other.db)),
      ];
      await Promise.all(instances.map((r) => r.start()));
      await Promise.all(instances.map((r) => r.waitForIdle()));
      expect(executions).toHaveLength(1);
    });
  });

  it('declares a claim left running by a dead process abandoned and runs the next slot', async () => {
    const now = new Date('2026-03-10T12:00:00Z');
    await runs().insertOne({
      _id: 'token-cleanup:2026-03-10T00:00:00.000Z',
      job: 'token-cleanup',
      slot: new Date('2026-03-10T00:00:00Z'),
      trigger: 'scheduled',
      instance: 'killed-process',
      status: 'running',
      started_at: new Date('2026-03-10T00:00:00Z'),
      finished_at: null,
      heartbeat_at: new Date('2026-03-10T00:00:05Z'),
      attempts: 1,
      result: null,
      error: null,
      expire_at: new Date('2100-01-01'),
    });
    const r = runtime(
      [{ name: 'token-cleanup', schedule: LEAP_DAY, description: 'test', run: async () => ({ deleted: 1 }) }],
      { clock: () => now, leaseMs: 60_000 },
    );
    expect(await r.runNow('token-cleanup')).toMatchObject({ status: 'succeeded' });
    expect(await runs().findOne({ _id: 'token-cleanup:2026-03-10T00:00:00.000Z' })).toMatchObject({
      status: 'abandoned',
      error: expect.stringMatching(/no heartbeat/),
    });
  });

  it('does not declare a claim abandoned while its heartbeat is fresh', async () => {
    const now = new Date('2026-03-10T12:00:00Z');
    await runs().insertOne({
      _id: 'token-cleanup:2026-03-10T12:00:00.000Z',
      job: 'token-cleanup',
      slot: now,
      trigger: 'scheduled',
      instance: 'alive-elsewhere',
      status: 'running',
      started_at: now,
      finished_at: null,
      // Heartbeats are judged by the database server's clock, not the runtime's injected one.
      heartbeat_at: new Date(Date.now() - 5_000),
      attempts: 1,
      result: null,
      error: null,
      expire_at: new Date('2100-01-01'),
    });
    const r = runtime(
      [{ name: 'token-cleanup', schedule: LEAP_DAY, description: 'test', run: async () => ({ deleted: 1 }) }],
      { clock: () => now, leaseMs: 60_000 },
    );
    expect(await r.runNow('token-cleanup')).toMatchObject({ status: 'skipped' });
  });

  it('keeps a job paused across a restart and resumes its schedule', async () => {
    let executions = 0;
    const job: JobDefinition = {
      name: 'message-deleter',
      schedule: EVERY_SECOND,
      description: 'test',
      run: async () => ({ n: ++executions }),
    };
    const first = runtime([job]);
    await first.pause('message-deleter', 'admin:1');
    await first.stop();

    const second = runtime([job]);
    await second.start();
    await waitFor(
      () => logs.messages().filter((m) => m === 'message-deleter is paused; slot not run').length >= 2,
      {
        message: 'two paused ticks',
      },
    );
    expect(executions).toBe(0);
    expect((await second.stats())[0]).toMatchObject({ name: 'message-deleter', paused: true });

    await second.resume('message-deleter');
    await waitFor(() => executions >= 1, { message: 'a run after resume' });
    const [stats] = await second.stats();
    expect(stats).toMatchObject({ paused: false });
  });

  it('reports stats per job: last run, next run and counts', async () => {
    const r = runtime(
      [
        {
          name: 'token-cleanup',
          schedule: '0 0,12 * * *',
          description: 'cleans',
          run: async () => ({ deleted: 3 }),
        },
        {
          name: 'token-count-reset',
          schedule: '0 0 * * *',
          description: 'resets',
          run: async () => {
            throw new Error('boom');
          },
        },
      ],
      { clock: () => new Date('2026-03-10T13:00:00Z') },
    );
    await r.start();
    await r.runNow('token-cleanup');
    await r.runNow('token-count-reset');
    const stats = await r.stats();
    expect(stats).toEqual([
      expect.objectContaining({
        name: 'token-cleanup',
        scheduleText: 'at 00:00 and 12:00 (UTC)',
        paused: false,
        running: null,
        lastRun: expect.objectContaining({ status: 'succeeded', result: { deleted: 3 }, trigger: 'manual' }),
        nextRun: new Date('2026-03-11T00:00:00Z'),
        counts: { succeeded: 1, failed: 0, skipped: 0, abandoned: 0 },
      }),
      expect.objectContaining({
        name: 'token-count-reset',
        lastRun: expect.objectContaining({ status: 'failed', error: 'Error: boom' }),
        counts: { succeeded: 0, failed: 1, skipped: 0, abandoned: 0 },
      }),
    ]);
  });

  it('refuses unknown job names with the list of valid ones', async () => {
    const r = runtime([
      { name: 'token-cleanup', schedule: LEAP_DAY, description: 'd', run: async () => ({}) },
    ]);
    await expect(r.runNow('nope')).rejects.toThrow('unknown job "nope"; valid jobs are: token-cleanup');
    await expect(r.pause('nope')).rejects.toThrow(/unknown job/);
  });

  it('notifies listeners of every finished run, including skipped ones', async () => {
    const events: string[] = [];
    const release = deferred();
    const started = deferred();
    const r = runtime([
      {
        name: 'token-cleanup',
        schedule: LEAP_DAY,
        description: 'd',
        run: async () => {
          started.resolve();
          await release.promise;
          return {};
        },
      },
    ]);
    r.onRunFinished((event) => events.push(`${event.job}:${event.trigger}:${event.status}`));
    const first = r.runNow('token-cleanup');
    await started.promise;
    await r.runNow('token-cleanup');
    release.resolve();
    await first;
    expect(events).toEqual(['token-cleanup:manual:skipped', 'token-cleanup:manual:succeeded']);
  });

  describe('one run at a time, really (#10)', () => {
    it('#10.7 a timed-out attempt is not retried while its work still runs: attempts never overlap', async () => {
      // Must hold: after the timeout the next attempt starts only once the previous one's work has
      // settled; the claim stays `running` (heartbeats going) the whole time.
      let active = 0;
      let maxActive = 0;
      const spans: Array<[number, number]> = [];
      const r = runtime(
        [
          {
            name: 'message-deleter',
            schedule: LEAP_DAY,
            description: 'test',
            timeoutMs: 40,
            retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
            run: async () => {
              active += 1;
              maxActive = Math.max(maxActive, active);
              const start = performance.now();
              // Ignores its signal for a while, as a batch in flight does.
              await new Promise((resolve) => setTimeout(resolve, 150));
              spans.push([start, performance.now()]);
              active -= 1;
              return {};
            },
          },
        ],
        { abortGraceMs: 10 },
      );
      const outcome = await r.runNow('message-deleter');
      expect(outcome).toMatchObject({ status: 'failed', attempts: 3 });
      expect(maxActive).toBe(1);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
      expect(spans).toHaveLength(3);
    });

    it('#10.9 a slot reached late (the event loop blocked across it) is still claimed and run, and logged as late', async () => {
      // Must hold: node-cron reports a tick more than a second late as missed; the runtime claims
      // and runs that slot anyway (trigger catch-up), once, and says it ran late.
      const executions: Array<{ slot: Date | null; trigger: string }> = [];
      const r = runtime([
        {
          name: 'token-count-reset',
          schedule: '*/3 * * * * *',
          description: 'test',
          run: async (ctx) => {
            executions.push({ slot: ctx.slot, trigger: ctx.trigger });
            return {};
          },
        },
      ]);
      await r.start();
      // Block the event loop from just before a slot until well after it (a stall of the process).
      // (node-cron measures lateness in whole seconds and tolerates one.)
      const nextSlot = Math.ceil((Date.now() + 700) / 3_000) * 3_000;
      await new Promise((resolve) => setTimeout(resolve, nextSlot - Date.now() - 300));
      const until = nextSlot + 2_200;
      while (Date.now() < until) {
        // busy: nothing else runs
      }
      await waitFor(() => executions.some((run) => run.slot?.getTime() === nextSlot), {
        message: 'the late slot to run',
      });
      const late = executions.filter((run) => run.slot?.getTime() === nextSlot);
      expect(late).toEqual([{ slot: new Date(nextSlot), trigger: 'catch-up' }]);
      expect(logs.messages()).toContain(
        'token-count-reset: slot reached late (process stalled?); running it now',
      );
      expect(
        await runs().countDocuments({ _id: `token-count-reset:${new Date(nextSlot).toISOString()}` }),
      ).toBe(1);
    });

    it('#10.10 an instance whose clock runs 59 s ahead never declares a live run abandoned (60 s lease)', async () => {
      // Must hold: staleness is judged by the database server's clock, so a skewed instance sees
      // the other's run as alive and skips instead of running beside it.
      const release = deferred();
      const started = deferred();
      const job = (name: string): JobDefinition => ({
        name: 'broadcast-deleter',
        schedule: LEAP_DAY,
        description: name,
        run: async () => {
          started.resolve();
          await release.promise;
          return {};
        },
      });
      // A slow heartbeat: the live run's last beat is up to 20 s old when the skewed instance looks.
      const live = runtime([job('live')], {
        instanceId: 'live',
        leaseMs: 60_000,
        heartbeatIntervalMs: 20_000,
      });
      const running = live.runNow('broadcast-deleter');
      await started.promise;
      // Its last heartbeat is now older than the 1 s that the skewed clock would leave of the lease.
      await waitFor(async () => {
        const claim = await runs().findOne({ job: 'broadcast-deleter', status: 'running' });
        return claim?.heartbeat_at && Date.now() - claim.heartbeat_at.getTime() > 1_500;
      });
      const ahead = runtime([job('ahead')], {
        instanceId: 'ahead',
        leaseMs: 60_000,
        clock: () => new Date(Date.now() + 59_000),
      });
      expect(await ahead.runNow('broadcast-deleter')).toMatchObject({ status: 'skipped' });
      expect(await runs().countDocuments({ status: 'abandoned' })).toBe(0);
      release.resolve();
      expect(await running).toMatchObject({ status: 'succeeded' });
    });
  });
});
