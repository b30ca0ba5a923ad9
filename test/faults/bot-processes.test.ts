import { describe, expect, it } from 'vitest';
import type { RunDoc } from '../../db/collections.js';
import {
  deleteCallsPerMessage,
  noticesPerRecord,
  processEnv,
  runsOf,
  seedExpiredBroadcast,
  seedPendingDeletions,
} from '../support/fault-scenarios.js';
import {
  isRunning,
  jsonLines,
  type LogLine,
  scriptPid,
  useScriptProcesses,
} from '../support/process-control.js';
import type { RunningProcess } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const POLLING_TEXT = 'bot is polling for updates';
const POLLING = (line: string) => line.includes(POLLING_TEXT);
const STANDING_BY = 'another instance is receiving updates; standing by to take over';

/** The real bot process (`src/main.ts`): several instances on one database, and SIGTERM mid-run. */
describe('real bot processes', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  it('two, then three instances on one database for several scheduled slots: every slot is claimed once, every message deleted once, every notice sent once, and each instance exits 0 on SIGTERM', async () => {
    // Must hold, for 2 and then 3 instances sharing the database and the Bot API server, over
    // several slots of a 2-second schedule that all have work: every slot has exactly one claim
    // (one run, on one instance; the runs the instances log are distinct and match the claims),
    // the runs together handle each record exactly once, each message gets exactly one deletion
    // call, each record exactly one notice, and every instance stops with exit code 0.
    // Only one instance may long-poll a bot token (a second getUpdates gets 409 Conflict): the
    // instances share a lease on receiving updates, so exactly one polls and the others stand by,
    // and Telegram never sees two pollers.
    fake.setLatency('deleteMessages', 10);
    fake.setLatency('sendMessage', 10);
    const summary: string[] = [];

    for (const [phase, instances] of [
      [1, 2],
      [2, 3],
    ] as const) {
      const env = processEnv(fake, db(), {
        MESSAGE_DELETER_CRON: '*/2 * * * * *',
        DELETION_BATCH_SIZE: '10',
      });
      const bots: RunningProcess[] = Array.from({ length: instances }, () =>
        procs.start('src/main.ts', [], { env }),
      );
      await Promise.all(
        bots.map((bot) => bot.waitForLine((line) => POLLING(line) || line.includes(STANDING_BY))),
      );
      await waitFor(() => bots.filter((bot) => bot.stdout().includes(POLLING_TEXT)).length === 1, {
        message: 'one instance receiving updates',
      });
      expect(bots.filter((bot) => bot.stdout().includes(STANDING_BY))).toHaveLength(instances - 1);
      const instanceIds = bots.map((bot) => {
        const line = jsonLines(bot.stdout()).find((entry) => entry.msg?.startsWith('message-deleter: every'));
        expect(line?.instance).toEqual(expect.any(String));
        return line?.instance as string;
      });
      expect(new Set(instanceIds).size).toBe(instances);

      // Due over the next ~11 seconds: five or six 2-second slots find work, so at least three do
      // even when a slow machine makes a run outlast its slot and the next tick is skipped.
      const firstDue = Date.now() + 1_000;
      const records = await seedPendingDeletions(fake, db().collections, {
        records: 60,
        chats: 30,
        firstChatId: 50_000 + phase * 1_000,
        deleteAt: (index) => new Date(firstDue + index * 170),
        contentPrefix: `ph${phase}c`,
      });
      await waitFor(async () => (await db().collections.pendingDeletions.countDocuments()) === 0, {
        timeoutMs: 30_000,
        message: 'every record to be handled',
      });

      for (const bot of bots) bot.child.kill('SIGTERM');
      const exits = await Promise.all(bots.map((bot) => bot.exited));
      expect(exits.map((exit) => exit.code)).toEqual(bots.map(() => 0));
      expect(fake.calls.filter((call) => call.method === 'getUpdates' && call.status === 409)).toEqual([]);

      // The claims of this phase's instances.
      const claims = await runsOf(db().db)
        .find({ job: 'message-deleter', instance: { $in: instanceIds } })
        .toArray();
      const slots = claims.map((claim) => claim.slot?.toISOString());
      expect(slots.every((slot) => slot !== undefined)).toBe(true);
      expect(new Set(slots).size).toBe(claims.length);
      expect(claims.filter((claim) => !['succeeded', 'skipped'].includes(claim.status))).toEqual([]);
      const withWork = claims.filter((claim) => (claim.result?.records ?? 0) > 0);
      expect(withWork.length).toBeGreaterThanOrEqual(3);
      // Together the runs handled each record once: no slot's work was done twice.
      const handled = claims.reduce((sum, claim) => sum + (claim.result?.records ?? 0), 0);
      expect(handled).toBe(records.length);

      // What the processes say they ran matches the claims, and no run appears twice.
      const ran: { runId: string; instance: string }[] = [];
      exits.forEach((exit, index) => {
        for (const line of jsonLines(exit.stdout) as LogLine[]) {
          if (line.msg === 'message-deleter run succeeded') {
            ran.push({ runId: String(line.runId), instance: instanceIds[index]! });
          }
        }
      });
      expect(new Set(ran.map((run) => run.runId)).size).toBe(ran.length);
      const succeeded = claims.filter((claim) => claim.status === 'succeeded');
      expect(ran.map((run) => `${run.runId}@${run.instance}`).sort()).toEqual(
        succeeded.map((claim: RunDoc) => `${claim._id}@${claim.instance}`).sort(),
      );

      const perMessage = deleteCallsPerMessage(fake);
      const messageKeys = records.flatMap((record) =>
        record.messageIds.map((id) => `${record.chatId}:${id}`),
      );
      expect(messageKeys.filter((k) => perMessage.get(k) !== 1)).toEqual([]);
      expect(noticesPerRecord(fake, records)).toEqual(records.map(() => 1));

      const byInstance = instanceIds.map(
        (instance, index) =>
          `#${index + 1}: ${succeeded.filter((claim) => claim.instance === instance).length}`,
      );
      summary.push(
        `${instances} instances: ${claims.length} slots claimed once each (${withWork.length} with work, ` +
          `${claims.filter((claim) => claim.status === 'skipped').length} skipped), runs per instance ${byInstance.join(', ')}`,
      );
    }
    console.log(`[faults] ${summary.join('; ')}`);
  });

  it('SIGTERM in the middle of a broadcast deletion: exits 0 within SHUTDOWN_TIMEOUT_MS, the run is recorded abandoned, and the next run finishes the rest', async () => {
    // Must hold: SIGTERM while the broadcast deleter is part-way makes the process exit 0 within
    // SHUTDOWN_TIMEOUT_MS (plus start-up/teardown slack); its run is recorded `abandoned`; every
    // copy whose record was removed is really deleted (nothing skipped); the CLI run afterwards
    // deletes every remaining copy and removes all broadcast_messages and the broadcast.
    const SHUTDOWN_TIMEOUT_MS = 5_000;
    const SLACK_MS = 3_000;
    const broadcast = await seedExpiredBroadcast(fake, db().collections, {
      recipients: 2_000,
      firstChatId: 300_000,
      adminChatId: 299_999,
    });
    fake.setLatency('deleteMessages', 20);
    const env = processEnv(fake, db(), {
      BROADCAST_DELETER_CRON: '*/2 * * * * *',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      DELETION_BATCH_SIZE: '50',
    });
    const bot = procs.start('src/main.ts', [], { env });
    const pid = await scriptPid(bot);
    await bot.waitForLine(POLLING);
    await waitFor(() => fake.callCount('deleteMessages') >= 600, {
      timeoutMs: 60_000,
      intervalMs: 5,
      message: 'the broadcast deletion to be part-way',
    });
    const running = await runsOf(db().db).findOne({ job: 'broadcast-deleter', status: 'running' });
    expect(running).toMatchObject({ trigger: 'scheduled' });

    const signalledAt = performance.now();
    bot.child.kill('SIGTERM');
    const exit = await bot.exited;
    const exitMs = Math.round(performance.now() - signalledAt);
    expect(exit.code).toBe(0);
    expect(isRunning(pid)).toBe(false);
    expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + SLACK_MS);

    const lines = jsonLines(exit.stdout);
    expect(lines.find((line) => line.msg === 'broadcast-deleter run stopped before finishing')).toMatchObject(
      {
        runId: running!._id,
      },
    );
    expect(
      lines.some(
        (line) => line.msg === 'some jobs did not stop in time; their claims will be released by lease',
      ),
    ).toBe(false);
    expect(await runsOf(db().db).findOne({ _id: running!._id })).toMatchObject({
      status: 'abandoned',
      error: expect.stringMatching(/stopping/),
    });

    // Part-way: some copies left, and every copy whose record is gone was really deleted.
    const left = await db()
      .collections.broadcastMessages.find({}, { projection: { chat_id: 1 } })
      .toArray();
    const leftChats = new Set(left.map((copy) => copy.chat_id));
    expect(left.length).toBeGreaterThan(0);
    expect(left.length).toBeLessThan(broadcast.copies.length);
    const visible = (copy: { chatId: number; messageId: number }) =>
      fake.chat(copy.chatId).messages.some((message) => message.message_id === copy.messageId);
    expect(broadcast.copies.filter((copy) => !leftChats.has(copy.chatId) && visible(copy))).toEqual([]);

    const next = await procs.start('src/task-cli.ts', ['broadcast-deleter'], { env }).exited;
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      status: 'succeeded',
      result: { broadcasts: 1, failed: 0, deferred: 0 },
    });
    expect(broadcast.copies.filter(visible)).toEqual([]);
    expect(await db().collections.broadcastMessages.countDocuments()).toBe(0);
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);
    console.log(
      `[faults] SIGTERM mid broadcast deletion: exited 0 after ${exitMs} ms (SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}), ` +
        `${left.length} of ${broadcast.copies.length} copies left for the next run`,
    );
  });
});
