import { describe, expect, it } from 'vitest';
import {
  metricValue,
  noticesPerRecord,
  processEnv,
  runsOf,
  seedPendingDeletions,
  undeletedMessages,
} from '../support/fault-scenarios.js';
import { jsonLines, useScriptProcesses } from '../support/process-control.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

/** Runs a record could fail before the old design gave it up with a warning. */
const OLD_DELETION_MAX_ATTEMPTS = 5;
const OUTAGE_RUNS = 8;
const LAG = 'tgbot_pending_deletions_oldest_overdue_seconds';

/**
 * The real bot (`src/main.ts`) deleting every second while Telegram answers every deleteMessages
 * with 502 for longer than DELETION_MAX_ATTEMPTS used to allow, then recovers.
 */
describe('a Telegram outage longer than the old DELETION_MAX_ATTEMPTS runs', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  it('keeps every record through the outage, reports them deferred while the lag grows, and deletes everything with one notice each once Telegram is back', async () => {
    // Must hold: while deleteMessages answers 5xx for more than DELETION_MAX_ATTEMPTS (5) runs,
    // no pending_deletions record is dropped or given up (each counts its failed runs in
    // `attempts`), every run ends `succeeded` reporting all of them `deferred`, no notice is
    // sent, and the deletion lag (tgbot_pending_deletions_oldest_overdue_seconds on /metrics)
    // keeps growing; once Telegram recovers, every message is deleted, every record is gone, and
    // every record got exactly one notice.
    const records = await seedPendingDeletions(fake, db().collections, {
      records: 60,
      chats: 30,
      firstChatId: 71_000,
    });
    fake.injectFault({ method: 'deleteMessages', status: 502, times: Number.POSITIVE_INFINITY });
    const bot = procs.start('src/main.ts', [], {
      env: processEnv(fake, db(), {
        MESSAGE_DELETER_CRON: '* * * * * *',
        TELEGRAM_RETRY_ATTEMPTS: '1',
        TELEGRAM_RETRY_BASE_DELAY_MS: '20',
        HTTP_PORT: '0',
      }),
    });
    const listening = await bot.waitForLine((line) => line.includes('metrics endpoint listening'));
    const metricsUrl = `${JSON.parse(listening).url as string}/metrics`;
    const lag = async () => {
      const response = await fetch(metricsUrl);
      return metricValue(await response.text(), LAG) ?? Number.NaN;
    };

    const runs = runsOf(db().db);
    const outageRuns = () =>
      runs
        .find({ job: 'message-deleter', status: { $ne: 'skipped' } })
        .sort({ started_at: 1 })
        .toArray();
    await waitFor(async () => (await outageRuns()).length >= 2, {
      timeoutMs: 20_000,
      message: 'the first outage runs',
    });
    const lagEarly = await lag();
    const during = await waitFor(
      async () => {
        const list = await outageRuns();
        return list.filter((run) => run.status !== 'running').length >= OUTAGE_RUNS + 1 ? list : undefined;
      },
      { timeoutMs: 40_000, message: `${OUTAGE_RUNS + 1} deleter runs during the outage` },
    );
    const lagLate = await lag();
    const left = await db().collections.pendingDeletions.find().toArray();
    const sentNotices = fake.callCount('sendMessage');
    fake.clearFaults();
    const recoveredFrom = performance.now();

    // Through the outage: nothing dropped, every finished run deferred everything.
    const finished = during.filter((run) => run.status !== 'running');
    expect(finished.length).toBeGreaterThan(OLD_DELETION_MAX_ATTEMPTS);
    for (const run of finished) {
      expect(run).toMatchObject({
        status: 'succeeded',
        result: { records: 0, notices: 0, failed: 0, deferred: records.length },
      });
    }
    expect(left).toHaveLength(records.length);
    const attempts = left.map((record) => record.attempts ?? 0);
    expect(Math.min(...attempts)).toBeGreaterThan(OLD_DELETION_MAX_ATTEMPTS);
    expect(left.every((record) => /^502 /.test(record.last_error ?? ''))).toBe(true);
    expect(sentNotices).toBe(0);
    expect(undeletedMessages(fake, records)).toHaveLength(records.length * 2);
    // The lag grows with the outage.
    expect(lagEarly).toBeGreaterThan(0);
    expect(lagLate).toBeGreaterThan(lagEarly);

    // Telegram is back: the next run does everything.
    await waitFor(async () => (await db().collections.pendingDeletions.countDocuments()) === 0, {
      timeoutMs: 20_000,
      message: 'every record to be done after the recovery',
    });
    const recoveredIn = (performance.now() - recoveredFrom) / 1000;
    const lagAfter = await lag();
    expect(undeletedMessages(fake, records)).toEqual([]);
    expect(noticesPerRecord(fake, records)).toEqual(records.map(() => 1));

    bot.child.kill('SIGTERM');
    const exit = await bot.exited;
    expect(exit.code).toBe(0);
    const lines = jsonLines(exit.stdout);
    expect(lines.filter((line) => /giving up/.test(line.msg ?? ''))).toEqual([]);
    const failedCalls = fake.calls.filter((call) => call.method === 'deleteMessages' && call.status === 502);
    console.log(
      `[faults] Telegram outage: deleteMessages answered 502 through ${finished.length} deleter runs ` +
        `(old DELETION_MAX_ATTEMPTS: ${OLD_DELETION_MAX_ATTEMPTS}), ${failedCalls.length} failed calls; ` +
        `${left.length}/${records.length} records kept with attempts ${Math.min(...attempts)}-${Math.max(...attempts)}, ` +
        `every run deferred ${records.length}; lag ${lagEarly.toFixed(1)} s -> ${lagLate.toFixed(1)} s during, ` +
        `${Number.isNaN(lagAfter) ? 'NaN' : lagAfter.toFixed(1)} s after; all deleted ${recoveredIn.toFixed(1)} s after the recovery, one notice each`,
    );
  });
});
