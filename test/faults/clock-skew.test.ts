import { afterEach, describe, expect, it } from 'vitest';
import {
  noticesPerRecord,
  overlappingRuns,
  processEnv,
  runsOf,
  seedPendingDeletions,
  undeletedMessages,
  watchInvariant,
} from '../support/fault-scenarios.js';
import {
  instanceIdOf,
  jsonLines,
  libfaketimePath,
  ScriptProcesses,
  skewedClockEnv,
} from '../support/process-control.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const SKEW_SECONDS = 55;
/** The default LEASE_SECONDS. */
const LEASE_SECONDS = 60;
/** The default heartbeat period: several beats per lease. */
const HEARTBEAT_SECONDS = LEASE_SECONDS / 6;
const LIBFAKETIME = libfaketimePath();
if (LIBFAKETIME === undefined && process.env.CI === undefined) {
  console.warn(
    '[faults] clock-skew case skipped: libfaketime is not installed (Debian: apt-get install faketime; .ci/run installs it)',
  );
}

/**
 * Two bot instances (`src/main.ts`) on one database whose hosts' clocks disagree by 55 seconds, at
 * the default 60-second lease: B runs under libfaketime (Debian's `faketime` package, installed by
 * .ci/run) with its wall clock 55 s fast, and is started while A is in the middle of a long
 * message-deleter run. Judged by B's clock, A's heartbeats look 55 s older than they are: more than
 * a lease once they are 5 s old, which happens every heartbeat period.
 */
describe.skipIf(LIBFAKETIME === undefined && process.env.CI === undefined)(
  'two instances with clocks 55 s apart at the default lease',
  () => {
    const db = useTestDatabase();
    const procs = new ScriptProcesses();
    const fake = useFakeBotApi('test');

    afterEach(async () => {
      await procs.killAll();
    });

    it('the fast instance never declares the live run abandoned, never runs beside it, and never takes the polling lease', async () => {
      // Must hold, with B's clock 55 s ahead of A's and of the database server's: B's tries to
      // run the deleter while A's run is live are all refused (recorded `skipped`, naming A's
      // run); A's run is never declared abandoned and ends `succeeded`; there is never more than
      // one `running` claim and no two runs' [started_at, finished_at] overlap; every record gets
      // exactly one notice and every message is deleted; only A ever polls (B stands by; the fake
      // answers no getUpdates with 409); both exit 0. The scenario must really put A's heartbeat
      // past the lease as B's clock reads it, or it proves nothing.
      expect(LIBFAKETIME, "libfaketime not found: install Debian's faketime package").toBeDefined();
      const BATCH = 20;
      // About a second per batch of twenty: the run takes around 25 s.
      const records = await seedPendingDeletions(fake, db().collections, {
        records: 500,
        chats: 500,
        firstChatId: 120_000,
      });
      fake.setLatency('deleteMessages', 250);
      fake.setLatency('sendMessage', 250);
      const env = processEnv(fake, db(), {
        MESSAGE_DELETER_CRON: '*/2 * * * * *',
        DELETION_BATCH_SIZE: String(BATCH),
      });
      const runs = runsOf(db().db);

      const a = procs.start('src/main.ts', [], { env });
      await a.waitForLine((line) => line.includes('bot is polling for updates'));
      const aRun = await waitFor(() => runs.findOne({ job: 'message-deleter', status: 'running' }), {
        timeoutMs: 10_000,
        message: "A's deleter run",
      });
      expect(aRun.instance).toBe(instanceIdOf(a));

      // How old A's heartbeat gets (by the database's clock) while B is up.
      let maxHeartbeatAgeMs = 0;
      const watcher = watchInvariant(async () => {
        const [claims, sample] = await Promise.all([
          runs.countDocuments({ job: 'message-deleter', status: 'running' }),
          runs.findOne({ _id: aRun._id }),
        ]);
        if (sample?.status === 'running' && sample.heartbeat_at) {
          maxHeartbeatAgeMs = Math.max(maxHeartbeatAgeMs, Date.now() - sample.heartbeat_at.getTime());
        }
        const violations = claims > 1 ? [`${claims} running claims`] : [];
        if (sample && sample.status !== 'running' && sample.status !== 'succeeded') {
          violations.push(`A's run ended ${sample.status}: ${sample.error}`);
        }
        return violations;
      }, 100);

      const b = procs.start('src/main.ts', [], {
        env: { ...env, ...skewedClockEnv(LIBFAKETIME as string, SKEW_SECONDS) },
      });
      const bLine = await b.waitForLine((line) => line.includes('another instance is receiving updates'));
      const readAt = Date.now();
      const bTime = String(JSON.parse(bLine).time);
      const bSkewSeconds = (Date.parse(bTime) - readAt) / 1000;
      expect(bSkewSeconds).toBeGreaterThan(SKEW_SECONDS - 3);
      expect(bSkewSeconds).toBeLessThan(SKEW_SECONDS + 1);
      const bInstance = instanceIdOf(b) as string;

      // B keeps trying to run the job while A's run is live, for more than a heartbeat period.
      const bSkips = () =>
        runs.find({ job: 'message-deleter', instance: bInstance, status: 'skipped' }).toArray();
      await waitFor(async () => (await bSkips()).length >= HEARTBEAT_SECONDS / 2 + 2, {
        timeoutMs: 30_000,
        message: 'B to try the job through a whole heartbeat period of A',
      });
      expect((await runs.findOne({ _id: aRun._id }))?.status).toBe('running');
      const triedWhileARan = await bSkips();

      await waitFor(async () => (await db().collections.pendingDeletions.countDocuments()) === 0, {
        timeoutMs: 60_000,
        message: 'every record to be handled',
      });
      const violations = await watcher.stop();
      // B first: it must not poll, not even after A hands over at its stop.
      b.child.kill('SIGTERM');
      const bExit = await b.exited;
      a.child.kill('SIGTERM');
      const aExit = await a.exited;

      expect(violations).toEqual([]);
      expect([aExit.code, bExit.code]).toEqual([0, 0]);
      // The scenario was real: as B's clock read it, A's heartbeat was more than a lease old.
      expect(maxHeartbeatAgeMs / 1000 + SKEW_SECONDS).toBeGreaterThan(LEASE_SECONDS);
      for (const skipped of triedWhileARan) {
        expect(skipped.reason).toContain(aRun._id);
      }
      const all = await runs.find({ job: 'message-deleter' }).toArray();
      expect(all.find((run) => run._id === aRun._id)).toMatchObject({
        status: 'succeeded',
        instance: aRun.instance,
      });
      // None declared dead by the lease (a run cut by the final SIGTERMs is `abandoned` by its stop).
      expect(all.filter((run) => run.status === 'running' || /no heartbeat/.test(run.error ?? ''))).toEqual(
        [],
      );
      expect(overlappingRuns(all)).toEqual([]);
      expect(undeletedMessages(fake, records)).toEqual([]);
      expect(noticesPerRecord(fake, records)).toEqual(records.map(() => 1));

      const aLines = jsonLines(aExit.stdout).map((line) => line.msg);
      const bLines = jsonLines(bExit.stdout).map((line) => line.msg);
      expect(bLines).not.toContain('bot is polling for updates');
      expect(bLines).not.toContain('taking over receiving updates');
      expect(
        [...aLines, ...bLines].filter((msg) => /lost its claim|lost the polling lease/.test(msg ?? '')),
      ).toEqual([]);
      const conflicts = fake.calls.filter(
        (call) => call.method === 'getUpdates' && call.status === 409,
      ).length;
      expect(conflicts).toBe(0);
      const worked = all.filter((run) => run.status === 'succeeded');
      console.log(
        `[faults] clocks 55 s apart, lease 60 s: B's log line said ${bTime} when the test read it at ` +
          `${new Date(readAt).toISOString()} (B ${bSkewSeconds >= 0 ? '+' : ''}${bSkewSeconds.toFixed(1)} s); ` +
          `A's heartbeat reached ${(maxHeartbeatAgeMs / 1000).toFixed(1)} s old, ${(maxHeartbeatAgeMs / 1000 + SKEW_SECONDS).toFixed(1)} s by B's clock; ` +
          `B tried ${triedWhileARan.length} times while A's ${(((all.find((run) => run._id === aRun._id)?.finished_at?.getTime() ?? 0) - aRun.started_at.getTime()) / 1000).toFixed(1)} s run was live, ` +
          `all skipped; ${worked.length} run(s) succeeded (${worked.filter((run) => run.instance === bInstance).length} on B), 0 overlapping, ` +
          `none abandoned by the lease, ${records.length} notices for ${records.length} records; getUpdates 409s: ${conflicts}, B never polled`,
      );
    });
  },
);
