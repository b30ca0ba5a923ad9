import { describe, expect, it } from 'vitest';
import { botTexts, processEnv, seedUsers, visibleCopies } from '../support/fault-scenarios.js';
import { killHard, lastJsonLine, scriptPid, useScriptProcesses } from '../support/process-control.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const LEASE_SECONDS = 3;
const CONCURRENCY = 10;
const ADMIN = { id: 95_001, first_name: 'Admin' };
const INTERRUPTED = '📣 Broadcast interrupted';
const UP = (line: string) =>
  line.includes('bot is polling for updates') ||
  line.includes('another instance is receiving updates; standing by to take over');

/**
 * The real bot (`src/main.ts`) is killed with SIGKILL while it sends a broadcast, and a new process
 * is started at once on the same database: the broadcast's heartbeat stops with the old process,
 * and the new one's sweep finds it.
 */
describe('a crash and an immediate restart in the middle of a broadcast', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  it('the new process marks the broadcast interrupted within a lease and a half and reports it once; at most TELEGRAM_CONCURRENCY copies are unknown to the records; the deleter deletes every recorded copy', async () => {
    // Must hold: within about LEASE_SECONDS after the kill (the dead sender's last heartbeat is
    // at most a quarter lease older than the kill) plus half a lease (the sweep's period), the
    // broadcast is `interrupted` and the admin gets exactly one "interrupted" report; copies in
    // the fake's chats that no broadcast_messages record knows about (sent, or on the wire, at
    // the moment of the crash) are at most TELEGRAM_CONCURRENCY; every record is a real copy;
    // the broadcast deleter deletes every recorded copy and removes the broadcast.
    const recipients = await seedUsers(fake, db().collections, { count: 400, firstChatId: 96_000 });
    fake.addChat(ADMIN.id, { user: ADMIN });
    fake.setLatency('copyMessage', 100);
    const env = processEnv(fake, db(), {
      ADMIN_IDS: String(ADMIN.id),
      LEASE_SECONDS: String(LEASE_SECONDS),
      TELEGRAM_CONCURRENCY: String(CONCURRENCY),
    });
    const first = procs.start('src/main.ts', [], { env });
    const pid = await scriptPid(first);
    await first.waitForLine((line) => line.includes('bot is polling for updates'));

    const source = fake.sendUserMessage({ from: ADMIN, text: '📢 Crash drill' });
    fake.sendUserMessage({ from: ADMIN, text: '/broadcast 1h', replyTo: source.message_id });
    const chats = [...recipients, ADMIN.id];
    const copies = () => visibleCopies(fake, chats, { chatId: ADMIN.id, messageId: source.message_id });
    await waitFor(() => copies().length >= 120, {
      timeoutMs: 20_000,
      intervalMs: 5,
      message: 'the broadcast to be part-way',
    });
    const broadcastBefore = await db().collections.broadcasts.findOne({});
    expect(broadcastBefore?.status).toBe('sending');

    await killHard(first, pid);
    const killedAt = Date.now();
    const second = procs.start('src/main.ts', [], { env });
    const upLine = await second.waitForLine(UP);
    const upAfterMs = Date.parse(String(JSON.parse(upLine).time)) - killedAt;

    const broadcast = await waitFor(
      async () => {
        const doc = await db().collections.broadcasts.findOne({});
        return doc?.status === 'interrupted' ? doc : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 20, message: 'the broadcast to be found interrupted' },
    );
    // finished_at is the database server's time, the same clock as the test's here.
    const interruptedAfterMs = (broadcast.finished_at?.getTime() ?? Number.NaN) - killedAt;
    const boundMs = LEASE_SECONDS * 1_500;
    // A lease and a half, or just after the new process came up if it came up later than that.
    expect(interruptedAfterMs).toBeLessThanOrEqual(Math.max(boundMs, upAfterMs) + 1_000);
    await waitFor(() => botTexts(fake, ADMIN.id).some((text) => text.startsWith(INTERRUPTED)), {
      message: 'the interrupted report',
    });

    const inChats = copies();
    const recorded = await db().collections.broadcastMessages.find({ broadcast_id: broadcast._id }).toArray();
    const recordedKeys = new Set(recorded.map((copy) => `${copy.chat_id}:${copy.message_id}`));
    const inChatKeys = new Set(inChats.map((copy) => `${copy.chatId}:${copy.messageId}`));
    const unrecorded = inChats.filter((copy) => !recordedKeys.has(`${copy.chatId}:${copy.messageId}`));
    expect(unrecorded.length).toBeLessThanOrEqual(CONCURRENCY);
    expect(recorded.filter((copy) => !inChatKeys.has(`${copy.chat_id}:${copy.message_id}`))).toEqual([]);
    // The counts follow the records one write later: a crash between the two loses one group's count.
    expect(broadcast.counts.delivered).toBeLessThanOrEqual(recorded.length);
    expect(broadcast.counts.delivered).toBeGreaterThanOrEqual(recorded.length - CONCURRENCY);

    // Its deletion time comes (moved into the past), and the broadcast deleter runs once.
    await db().collections.broadcasts.updateOne(
      { _id: broadcast._id },
      { $set: { delete_at: new Date(Date.now() - 60_000) } },
    );
    const deleter = await procs.start('src/task-cli.ts', ['broadcast-deleter'], { env }).exited;
    expect(deleter.code, deleter.stderr).toBe(0);
    expect(lastJsonLine(deleter.stdout)).toMatchObject({
      status: 'succeeded',
      result: { broadcasts: 1, messagesDeleted: recorded.length, failed: 0, deferred: 0 },
    });
    const left = copies();
    expect(left.filter((copy) => recordedKeys.has(`${copy.chatId}:${copy.messageId}`))).toEqual([]);
    expect(left).toEqual(unrecorded);
    expect(await db().collections.broadcastMessages.countDocuments()).toBe(0);
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);

    // By now the new process has swept several more times: still exactly one report.
    const reports = botTexts(fake, ADMIN.id).filter((text) => text.startsWith(INTERRUPTED));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain(`Delivered ${broadcast.counts.delivered},`);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    console.log(
      `[faults] SIGKILL mid-broadcast, restarted at once: ${inChats.length} copies sent of ${chats.length}, ` +
        `${recorded.length} recorded (counted ${broadcast.counts.delivered}), ${unrecorded.length} unrecorded ` +
        `(TELEGRAM_CONCURRENCY ${CONCURRENCY}); ` +
        `interrupted ${(interruptedAfterMs / 1000).toFixed(1)} s after the kill (lease ${LEASE_SECONDS} s + half a lease; ` +
        `the new process was up after ${(upAfterMs / 1000).toFixed(1)} s), ${reports.length} report; ` +
        `the deleter deleted all ${recorded.length} recorded copies`,
    );
  });
});
