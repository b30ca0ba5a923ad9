import { describe, expect, it } from 'vitest';
import {
  noticesPerRecord,
  processEnv,
  repeats,
  runsOf,
  seedPendingDeletions,
  undeletedMessages,
} from '../support/fault-scenarios.js';
import {
  freeze,
  instanceIdOf,
  jsonLines,
  scriptPid,
  thaw,
  useScriptProcesses,
} from '../support/process-control.js';
import type { RunningProcess } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const UP = (line: string) =>
  line.includes('bot is polling for updates') ||
  line.includes('another instance is receiving updates; standing by to take over');

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

/**
 * The real bot process (`src/main.ts`) frozen with SIGSTOP and continued with SIGCONT, as a
 * paused VM, a stopped container or a debugger would: its timers fire late, all at once.
 */
describe('a process stopped with SIGSTOP', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  it('across a scheduled time: the slot is claimed and run once after SIGCONT, late, within the catch-up grace', async () => {
    // Must hold: a slot whose time passes while the process is stopped is not lost: after
    // SIGCONT the process says it reached the slot late and runs it (trigger `catch-up`, claimed
    // under that slot's key), within CATCH_UP_GRACE_HOURS, exactly once (one claim for the job,
    // one run); the job does its whole work (yesterday's counters gone, today's kept); the
    // process then stops with exit code 0.
    const counters = db().collections.tokenCounts;
    await counters.insertMany([
      ...[1, 2, 3].map((user) => ({ user_id: user, date: day(-1), count: 2 })),
      ...[4, 5].map((user) => ({ user_id: user, date: day(0), count: 1 })),
    ]);
    // A daily schedule whose time is a few seconds away: enough for the process to start.
    const slot = new Date(Math.ceil((Date.now() + 8_000) / 1_000) * 1_000);
    const schedule = `${slot.getUTCSeconds()} ${slot.getUTCMinutes()} ${slot.getUTCHours()} * * *`;
    const bot = procs.start('src/main.ts', [], {
      env: processEnv(fake, db(), { TOKEN_COUNT_RESET_CRON: schedule }),
    });
    const pid = await scriptPid(bot);
    await bot.waitForLine(UP);
    const planned = jsonLines(bot.stdout()).find((line) => line.job === 'token-count-reset' && line.nextRun);
    expect(planned?.nextRun).toBe(slot.toISOString());
    expect(Date.now(), 'the process started too slowly to be stopped before its slot').toBeLessThan(
      slot.getTime() - 200,
    );

    await freeze(pid);
    const frozenAt = Date.now();
    // The scheduled time comes and goes while the process is stopped.
    await waitFor(() => Date.now() >= slot.getTime() + 3_000, {
      timeoutMs: 20_000,
      message: 'the slot to pass',
    });
    expect((await runsOf(db().db).find({ job: 'token-count-reset' }).toArray()).length).toBe(0);
    await thaw(pid);
    const thawedAt = Date.now();

    const late = JSON.parse(
      await bot.waitForLine((line) => line.includes('token-count-reset: slot reached late')),
    ) as { slot: string; lateMs: number };
    const ran = JSON.parse(
      await bot.waitForLine((line) => line.includes('token-count-reset run succeeded')),
    ) as {
      runId: string;
      trigger: string;
      result: { deleted: number };
    };
    expect(late.slot).toBe(slot.toISOString());
    expect(late.lateMs).toBeGreaterThanOrEqual(3_000);
    expect(late.lateMs).toBeLessThan(3_600_000);
    expect(ran).toMatchObject({
      runId: `token-count-reset:${slot.toISOString()}`,
      trigger: 'catch-up',
      result: { deleted: 3 },
    });

    const claims = await runsOf(db().db).find({ job: 'token-count-reset' }).toArray();
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({
      _id: `token-count-reset:${slot.toISOString()}`,
      slot,
      trigger: 'catch-up',
      status: 'succeeded',
    });
    expect(claims[0]!.started_at.getTime()).toBeGreaterThanOrEqual(thawedAt - 1_000);
    expect((await counters.find().toArray()).map((counter) => counter.date)).toEqual([day(0), day(0)]);

    bot.child.kill('SIGTERM');
    const exit = await bot.exited;
    expect(exit.code).toBe(0);
    const lines = jsonLines(exit.stdout);
    expect(lines.filter((line) => line.msg === 'token-count-reset run succeeded')).toHaveLength(1);
    expect(lines.filter((line) => /too late to run/.test(line.msg ?? ''))).toEqual([]);
    console.log(
      `[faults] SIGSTOP across a scheduled time: stopped ${((slot.getTime() - frozenAt) / 1000).toFixed(1)} s before ` +
        `the slot for ${((thawedAt - frozenAt) / 1000).toFixed(1)} s; after SIGCONT the slot ran once, ` +
        `${(late.lateMs / 1000).toFixed(1)} s late (trigger ${ran.trigger}, grace 1 h), ${ran.result.deleted} old counters removed, today's kept`,
    );
  });

  it('longer than the lease while holding a running claim: another instance takes over, and the resumed one stops instead of working beside it', async () => {
    // Must hold: while the holder of a running message-deleter claim is stopped for longer than
    // LEASE_SECONDS, the other instance declares the claim `abandoned` and runs the job; after
    // SIGCONT the resumed process finds it lost its claim, says so and stops its run (recorded
    // `abandoned`) instead of working beside the new run; in the end every message is deleted,
    // every record is gone, every record got a notice and repeated notices are at most one batch
    // (what the stalled run had on the wire); both processes stop with exit code 0.
    const LEASE_SECONDS = 2;
    const BATCH = 20;
    const records = await seedPendingDeletions(fake, db().collections, {
      records: 500,
      chats: 125,
      firstChatId: 97_000,
    });
    fake.setLatency('deleteMessages', 60);
    fake.setLatency('sendMessage', 60);
    const env = processEnv(fake, db(), {
      MESSAGE_DELETER_CRON: '*/2 * * * * *',
      DELETION_BATCH_SIZE: String(BATCH),
      LEASE_SECONDS: String(LEASE_SECONDS),
    });
    const bots: RunningProcess[] = [
      procs.start('src/main.ts', [], { env }),
      procs.start('src/main.ts', [], { env }),
    ];
    await Promise.all(bots.map((bot) => bot.waitForLine(UP)));

    const { claim, holder } = await waitFor(
      async () => {
        const running = await runsOf(db().db).findOne({ job: 'message-deleter', status: 'running' });
        const index = bots.findIndex((bot) => running && instanceIdOf(bot) === running.instance);
        return index < 0 ? undefined : { claim: running!, holder: index };
      },
      { timeoutMs: 20_000, message: 'a deleter run in flight' },
    );
    const stalled = bots[holder] as RunningProcess;
    const other = bots[1 - holder] as RunningProcess;
    const before = fake.callCount('sendMessage');
    await waitFor(() => fake.callCount('sendMessage') >= before + BATCH / 2, {
      timeoutMs: 20_000,
      intervalMs: 5,
      message: 'the run to be part-way',
    });
    const stalledPid = await scriptPid(stalled);
    await freeze(stalledPid);
    const frozenAt = Date.now();

    // The other instance's next tick finds the claim without heartbeat for a lease, and runs.
    const takeover = await waitFor(
      async () => {
        const old = await runsOf(db().db).findOne({ _id: claim._id });
        const running = await runsOf(db().db).findOne({ job: 'message-deleter', status: 'running' });
        return old?.status === 'abandoned' && running?.instance === instanceIdOf(other) ? running : undefined;
      },
      { timeoutMs: 20_000, message: 'the other instance to take over' },
    );
    const afterTakeover = fake.callCount('sendMessage');
    await waitFor(() => fake.callCount('sendMessage') >= afterTakeover + BATCH, {
      timeoutMs: 20_000,
      intervalMs: 5,
      message: 'the new run to make progress',
    });
    const leftAtThaw = await db().collections.pendingDeletions.countDocuments();
    await thaw(stalledPid);
    const stallMs = Date.now() - frozenAt;
    expect(stallMs).toBeGreaterThan(LEASE_SECONDS * 1_000);

    await stalled.waitForLine((line) =>
      line.includes('the run lost its claim (declared abandoned elsewhere)'),
    );
    const stopped = JSON.parse(
      await stalled.waitForLine(
        (line) => line.includes('message-deleter run stopped before finishing') && line.includes(claim._id),
      ),
    ) as { reason: string };
    expect(stopped.reason).toMatch(/ClaimLostError/);

    await waitFor(async () => (await db().collections.pendingDeletions.countDocuments()) === 0, {
      timeoutMs: 60_000,
      message: 'every record to be handled',
    });
    expect(undeletedMessages(fake, records)).toEqual([]);
    const notices = noticesPerRecord(fake, records);
    expect(notices.filter((n) => n === 0)).toEqual([]);
    const repeated = repeats(notices);
    expect(repeated).toBeLessThanOrEqual(BATCH);
    expect(await runsOf(db().db).findOne({ _id: claim._id })).toMatchObject({ status: 'abandoned' });
    // The resumed process ran no more batches of its old run: it logged one end for it, and its
    // later runs (if any) are new claims of its own.
    const stalledLines = jsonLines(stalled.stdout()).filter((line) => line.runId === claim._id);
    expect(stalledLines.filter((line) => /run (succeeded|failed)/.test(line.msg ?? ''))).toEqual([]);

    for (const bot of bots) bot.child.kill('SIGTERM');
    const exits = await Promise.all(bots.map((bot) => bot.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
    console.log(
      `[faults] SIGSTOP past the lease while holding a run: stalled ${(stallMs / 1000).toFixed(1)} s (lease ${LEASE_SECONDS} s), ` +
        `the other instance took over with ${takeover._id}; after SIGCONT the stalled run said it lost its claim and stopped ` +
        `(${leftAtThaw} of ${records.length} records left then); ${repeated} notice(s) repeated (window: ${BATCH}); both exited 0`,
    );
  });
});
