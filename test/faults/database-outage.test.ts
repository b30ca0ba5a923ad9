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
  isRunning,
  jsonLines,
  type LogLine,
  scriptPid,
  useScriptProcesses,
} from '../support/process-control.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { useOwnMongo } from '../support/use-own-mongo.js';
import { waitFor } from '../support/wait.js';

const DB_NAME = 'faults_outage';
const BATCH = 20;

/**
 * The real bot process (`src/main.ts`) on its own MongoDB emulator, which the test stops in the
 * middle of a message-deleter run (dropping every connection, keeping the data) and starts again.
 */
describe('MongoDB stopped during a run and started again', () => {
  const { emulator, collections } = useOwnMongo(DB_NAME);
  const fake = useFakeBotApi('test');
  const procs = useScriptProcesses();

  it('the run fails cleanly or holds its finished batch, the process and its scheduler keep going, and every due deletion completes once MongoDB is back', async () => {
    // Must hold: with the database gone mid-run the run ends `failed` (after its retries), or
    // holds the batch whose notices it sent until the database is back, without taking the
    // process down; the scheduler keeps ticking (and says it cannot claim its slots);
    // once the database is back a later scheduled run succeeds, every due message ends deleted,
    // no record remains, every record got its notice (repeats at most one batch), and the
    // process still stops cleanly (exit 0) on SIGTERM.
    const records = await seedPendingDeletions(fake, collections, {
      records: 120,
      chats: 40,
      firstChatId: 41_000,
    });
    // About 450 ms per batch of 20: the first run would take around three seconds.
    fake.setLatency('deleteMessages', 100);
    fake.setLatency('sendMessage', 100);
    const bot = procs.start('src/main.ts', [], {
      // A short server selection timeout, so operations fail in seconds while the database is down.
      env: processEnv(
        fake,
        { uri: `${emulator.uri}?serverSelectionTimeoutMS=1500`, dbName: DB_NAME },
        {
          MESSAGE_DELETER_CRON: '*/2 * * * * *',
          DELETION_BATCH_SIZE: String(BATCH),
          JOB_RETRY_ATTEMPTS: '2',
          JOB_RETRY_BASE_DELAY_MS: '200',
          LEASE_SECONDS: '2',
        },
      ),
      timeoutMs: 110_000,
    });
    const pid = await scriptPid(bot);
    await bot.waitForLine((line) => line.includes('bot is polling for updates'));

    // In the middle of the second batch's notices.
    await waitFor(() => fake.callCount('sendMessage') >= 30, {
      timeoutMs: 30_000,
      intervalMs: 5,
      message: 'the first run to be under way',
    });
    await emulator.stop();
    const lines = () => jsonLines(bot.stdout());
    // The run either fails (MongoDB gone between batches: reading the next page fails, after its
    // retries) or holds on to the batch whose notices it sent, retrying its removal until MongoDB
    // is back (so that no later run sends those notices again).
    const outcome = await waitFor(
      () =>
        lines().find(
          (line) =>
            (line.job === 'message-deleter' &&
              /^message-deleter run failed after \d+ attempt/.test(line.msg ?? '')) ||
            line.msg === 'could not remove a finished batch; retrying',
        ),
      { timeoutMs: 30_000, message: 'the run to fail or to hold its finished batch' },
    );
    const heldBatch = outcome.msg === 'could not remove a finished batch; retrying';
    if (!heldBatch)
      expect(outcome).toMatchObject({ level: 'error', msg: 'message-deleter run failed after 2 attempt(s)' });
    // The scheduler is still ticking: a later slot tries to claim and says it cannot, or is skipped
    // because the run in this process is still going.
    await waitFor(
      () =>
        lines().some(
          (line) =>
            line.msg === 'message-deleter: could not claim the slot' ||
            line.msg === 'message-deleter: tick skipped, the previous run is still going',
        ),
      { timeoutMs: 15_000, message: 'a later tick' },
    );
    expect(isRunning(pid)).toBe(true);
    expect(bot.child.exitCode).toBeNull();
    const doneBeforeOutage = records.length - undeletedMessages(fake, records).length / 2;

    await emulator.start();
    const restartedAt = Date.now();
    const recovered = await waitFor(
      () =>
        lines().find(
          (line) =>
            line.msg === 'message-deleter run succeeded' &&
            ((line.result as { records?: number } | undefined)?.records ?? 0) > 0,
        ),
      { timeoutMs: 60_000, message: 'a run to succeed once the database is back' },
    );
    await waitFor(async () => (await collections.pendingDeletions.countDocuments()) === 0, {
      timeoutMs: 30_000,
      message: 'every due record to be done',
    });
    expect(undeletedMessages(fake, records)).toEqual([]);
    const notices = noticesPerRecord(fake, records);
    expect(notices.filter((n) => n === 0)).toEqual([]);
    expect(repeats(notices)).toBeLessThanOrEqual(BATCH);

    // The history tells the story: the interrupted run failed, or finished once the database was
    // back (its outcome written then); a run succeeded after the restart.
    const runs = runsOf(collections.users.db);
    if (!heldBatch) {
      const failedRun = await runs.findOne({ _id: outcome.runId as string });
      expect(failedRun).toMatchObject({ status: 'failed', attempts: 2, trigger: 'scheduled' });
    }
    const recoveredRun = await runs.findOne({ _id: recovered.runId as string });
    expect(recoveredRun).toMatchObject({ status: 'succeeded', trigger: 'scheduled' });
    expect(recoveredRun!.finished_at!.getTime()).toBeGreaterThanOrEqual(restartedAt - 1_000);

    bot.child.kill('SIGTERM');
    const exit = await bot.exited;
    expect(exit.code).toBe(0);
    const all = jsonLines(exit.stdout);
    expect(all.filter((line: LogLine) => line.level === 'fatal')).toEqual([]);
    expect(exit.stderr).not.toMatch(/unhandled|uncaught/i);
    console.log(
      `[faults] MongoDB outage: the run ${heldBatch ? 'held its finished batch until MongoDB was back' : 'failed'}; ` +
        `messages of ${doneBeforeOutage} of ${records.length} records deleted before the outage, ` +
        `${repeats(notices)} notice(s) repeated (window: ${BATCH}), ` +
        `${all.filter((line) => line.msg === 'message-deleter: could not claim the slot').length} slot(s) could not be claimed while down, ` +
        `first success ${((Date.parse(String(recovered.time)) - restartedAt) / 1000).toFixed(1)} s after the restart`,
    );
  });
});
