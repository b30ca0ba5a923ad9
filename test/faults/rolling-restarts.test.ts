import { describe, expect, it } from 'vitest';
import {
  noticesPerRecord,
  processEnv,
  repeats,
  runsOf,
  seedPendingDeletions,
  undeletedMessages,
  watchInvariant,
} from '../support/fault-scenarios.js';
import { instanceIdOf, useScriptProcesses } from '../support/process-control.js';
import type { ProcessResult, RunningProcess } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const BATCH = 20;
const RESTARTS = 4;
const UP = (line: string) =>
  line.includes('bot is polling for updates') ||
  line.includes('another instance is receiving updates; standing by to take over');

/**
 * Two bot instances (`src/main.ts`) share the database and a 2-second message-deleter schedule
 * over a big backlog, with latency on every Telegram call so runs are mid-batch most of the time.
 * The instance running the deleter is restarted (SIGTERM, then a new process in its place) again
 * and again; the run moves to the other instance each time, so each instance is restarted in turn.
 */
describe('rolling restarts while deletions are in flight', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  it('every due message ends deleted with one notice, no record is removed while its messages are visible or counts an attempt, and every instance exits 0', async () => {
    // Must hold, checked continuously while the instances are restarted: no pending_deletions
    // record disappears while any of its messages is still visible in the fake, and no record's
    // `attempts` grows (a stop is not a failure). At the end: every due message is deleted,
    // every record is gone, every record got a notice and none got two (SIGTERM stops at a
    // batch boundary with what it sent recorded: the crash window of DELETION_BATCH_SIZE repeats
    // does not apply), no run reported deferred records, each stopped run is recorded
    // `abandoned` by its stop, and every instance exited 0.
    const records = await seedPendingDeletions(fake, db().collections, {
      records: 800,
      chats: 200,
      firstChatId: 61_000,
    });
    fake.setLatency('deleteMessages', 60);
    fake.setLatency('sendMessage', 60);
    const env = processEnv(fake, db(), {
      MESSAGE_DELETER_CRON: '*/2 * * * * *',
      DELETION_BATCH_SIZE: String(BATCH),
    });
    const pending = db().collections.pendingDeletions;
    const watcher = watchInvariant(async () => {
      // The database first: a record already gone then must have its messages gone now.
      const left = await pending.find({}, { projection: { content_id: 1, attempts: 1 } }).toArray();
      const violations = left
        .filter((record) => (record.attempts ?? 0) > 0)
        .map((record) => `${record.content_id} counts ${record.attempts} attempt(s)`);
      const present = new Set(left.map((record) => record.content_id));
      const gone = records.filter((record) => !present.has(record.contentId));
      for (const message of undeletedMessages(fake, gone)) {
        violations.push(`record of ${message} removed while the message is visible`);
      }
      return violations;
    }, 150);

    const started = performance.now();
    const bots: RunningProcess[] = [
      procs.start('src/main.ts', [], { env }),
      procs.start('src/main.ts', [], { env }),
    ];
    await Promise.all(bots.map((bot) => bot.waitForLine(UP)));
    const exits: ProcessResult[] = [];
    const stopped: { runId: string; slot: number; leftAtStop: number }[] = [];

    for (let restart = 0; restart < RESTARTS; restart++) {
      // The run in flight, somewhere, once it has done a batch or so.
      const run = await waitFor(
        async () => {
          const claim = await runsOf(db().db).findOne({ job: 'message-deleter', status: 'running' });
          if (!claim) return undefined;
          const slot = bots.findIndex((bot) => instanceIdOf(bot) === claim.instance);
          return slot < 0 ? undefined : { claim, slot };
        },
        { timeoutMs: 20_000, message: 'a deleter run in flight' },
      );
      const noticesBefore = fake.callCount('sendMessage');
      await waitFor(() => fake.callCount('sendMessage') >= noticesBefore + BATCH / 2, {
        timeoutMs: 20_000,
        intervalMs: 5,
        message: 'the run to make progress',
      });
      // Deletions in flight on the instance being stopped.
      const bot = bots[run.slot] as RunningProcess;
      bot.child.kill('SIGTERM');
      const exit = await bot.exited;
      exits.push(exit);
      expect(exit.code, exit.stderr).toBe(0);
      stopped.push({ runId: run.claim._id, slot: run.slot, leftAtStop: await pending.countDocuments() });
      // A new process in its place.
      const replacement = procs.start('src/main.ts', [], { env });
      bots[run.slot] = replacement;
      await replacement.waitForLine(UP);
    }

    await waitFor(async () => (await pending.countDocuments()) === 0, {
      timeoutMs: 90_000,
      message: 'every record to be handled',
    });
    const violations = await watcher.stop();
    for (const bot of bots) bot.child.kill('SIGTERM');
    exits.push(...(await Promise.all(bots.map((bot) => bot.exited))));
    const elapsed = (performance.now() - started) / 1000;

    expect(exits.map((exit) => exit.code)).toEqual(exits.map(() => 0));
    expect(violations).toEqual([]);
    expect(undeletedMessages(fake, records)).toEqual([]);
    const notices = noticesPerRecord(fake, records);
    expect(notices.filter((n) => n === 0)).toEqual([]);
    expect(repeats(notices)).toBe(0);

    // Both instances were restarted (the run moves to the survivor after each stop), and each
    // stop hit a live run, which its own stop recorded as abandoned.
    expect(new Set(stopped.map((stop) => stop.slot)).size).toBe(2);
    const runs = await runsOf(db().db).find({ job: 'message-deleter' }).toArray();
    for (const { runId } of stopped) {
      expect(runs.find((run) => run._id === runId)).toMatchObject({
        status: 'abandoned',
        error: expect.stringMatching(/stopping/),
      });
    }
    expect(runs.filter((run) => (run.result?.deferred ?? 0) > 0)).toEqual([]);
    expect(runs.filter((run) => run.status === 'running' || run.status === 'failed')).toEqual([]);
    const handled = runs.reduce((sum, run) => sum + (run.result?.records ?? 0), 0);
    expect(handled).toBe(records.length);
    const count = (status: string) => runs.filter((run) => run.status === status).length;
    console.log(
      `[faults] rolling restarts: ${RESTARTS} SIGTERM restarts mid-run (instances restarted: ` +
        `${stopped.map((stop) => `#${stop.slot + 1}`).join(', ')}; records left at each stop: ` +
        `${stopped.map((stop) => stop.leftAtStop).join(', ')} of ${records.length}), ` +
        `${repeats(notices)} notice(s) repeated, 0 records removed while visible, 0 attempts counted ` +
        `(${watcher.checks} checks), runs: ${count('succeeded')} succeeded, ${count('abandoned')} stopped, ` +
        `${count('skipped')} skipped; ${exits.length} exits, all 0; ${elapsed.toFixed(1)} s`,
    );
  });
});
