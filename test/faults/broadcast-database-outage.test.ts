import { describe, expect, it } from 'vitest';
import { botTexts, processEnv, seedUsers, visibleCopies } from '../support/fault-scenarios.js';
import {
  isRunning,
  jsonLines,
  lastJsonLine,
  scriptPid,
  useScriptProcesses,
} from '../support/process-control.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { useOwnMongo } from '../support/use-own-mongo.js';
import { waitFor } from '../support/wait.js';

const DB_NAME = 'faults_broadcast_outage';
const LEASE_SECONDS = 3;
const CONCURRENCY = 10;
const ADMIN = { id: 90_001, first_name: 'Admin' };
const DATABASE_DOWN = '📣 Broadcast stopped: the database is unavailable';

/**
 * The real bot (`src/main.ts`) on its own MongoDB emulator sends a broadcast an admin started
 * with /broadcast; the test stops the emulator in the middle of the sending, for longer than the
 * broadcaster's patience with a failing database (LEASE_SECONDS), and starts it again.
 */
describe('a broadcast through a database outage', () => {
  const { emulator, collections } = useOwnMongo(DB_NAME);
  const fake = useFakeBotApi('test');
  const procs = useScriptProcesses();

  it('the process survives, the admin is told why it stopped, every copy sent is recorded once the database is back, and the deleter deletes them all', async () => {
    // Must hold: the bot process keeps running through the outage; sending stops and the admin is
    // told once that the broadcast stopped because the database is unavailable (and gets no
    // other report); once the database is back every copy that exists in the fake's chats is
    // recorded in broadcast_messages (unrecorded copies: at most TELEGRAM_CONCURRENCY in general,
    // 0 here since the process lives to write them) and every record is a real copy; the
    // broadcast ends `interrupted` with its delivered count equal to the records; the process
    // still stops with exit code 0; and after its deletion time the broadcast deleter deletes
    // every copy and every record.
    const recipients = await seedUsers(fake, collections, { count: 400, firstChatId: 91_000 });
    fake.addChat(ADMIN.id, { user: ADMIN });
    // About 40 copies a second: sending all would take ten seconds.
    fake.setLatency('copyMessage', 250);
    const database = { uri: `${emulator.uri}?serverSelectionTimeoutMS=1000`, dbName: DB_NAME };
    const env = processEnv(fake, database, {
      ADMIN_IDS: String(ADMIN.id),
      LEASE_SECONDS: String(LEASE_SECONDS),
      TELEGRAM_CONCURRENCY: String(CONCURRENCY),
    });
    const bot = procs.start('src/main.ts', [], { env, timeoutMs: 110_000 });
    const pid = await scriptPid(bot);
    await bot.waitForLine((line) => line.includes('bot is polling for updates'));

    const source = fake.sendUserMessage({ from: ADMIN, text: '📢 Outage drill tonight' });
    fake.sendUserMessage({ from: ADMIN, text: '/broadcast 1h', replyTo: source.message_id });
    const sourceRef = { chatId: ADMIN.id, messageId: source.message_id };
    const chats = [...recipients, ADMIN.id];
    const copies = () => visibleCopies(fake, chats, sourceRef);
    await waitFor(() => copies().length >= 60, {
      timeoutMs: 20_000,
      intervalMs: 5,
      message: 'the broadcast to be part-way',
    });
    await emulator.stop();
    const stoppedAt = performance.now();
    const copiesAtStop = copies().length;

    // The broadcaster retries its writes for LEASE_SECONDS, then stops sending and says why.
    await waitFor(() => botTexts(fake, ADMIN.id).some((text) => text.startsWith(DATABASE_DOWN)), {
      timeoutMs: 30_000,
      message: 'the admin to be told the database is unavailable',
    });
    const toldAfter = (performance.now() - stoppedAt) / 1000;
    expect(toldAfter).toBeGreaterThanOrEqual(LEASE_SECONDS - 0.5);
    const copiesWhileDown = copies().length;
    expect(isRunning(pid)).toBe(true);

    await emulator.start();
    const downFor = (performance.now() - stoppedAt) / 1000;
    const broadcast = await waitFor(
      async () => {
        const doc = await collections.broadcasts.findOne({});
        return doc?.status === 'interrupted' ? doc : undefined;
      },
      { timeoutMs: 30_000, message: 'the broadcast to end interrupted once the database is back' },
    );
    await bot.waitForLine((line) => line.includes('broadcast sending ended'));

    const inChats = copies();
    const recorded = await collections.broadcastMessages.find({ broadcast_id: broadcast._id }).toArray();
    const recordedKeys = new Set(recorded.map((copy) => `${copy.chat_id}:${copy.message_id}`));
    const unrecorded = inChats.filter((copy) => !recordedKeys.has(`${copy.chatId}:${copy.messageId}`));
    const inChatKeys = new Set(inChats.map((copy) => `${copy.chatId}:${copy.messageId}`));
    expect(unrecorded.length).toBeLessThanOrEqual(CONCURRENCY);
    expect(unrecorded).toEqual([]);
    expect(recorded.filter((copy) => !inChatKeys.has(`${copy.chat_id}:${copy.message_id}`))).toEqual([]);
    expect(broadcast.counts.delivered).toBe(recorded.length);
    expect(inChats.length).toBeLessThan(chats.length);
    // Sending stopped: nothing went out after the admin was told.
    expect(inChats.length).toBe(copiesWhileDown);

    const adminTexts = botTexts(fake, ADMIN.id);
    expect(adminTexts.filter((text) => text.startsWith(DATABASE_DOWN))).toHaveLength(1);
    expect(adminTexts.filter((text) => /Broadcast (interrupted|finished)/.test(text))).toEqual([]);
    expect(isRunning(pid)).toBe(true);
    bot.child.kill('SIGTERM');
    const exit = await bot.exited;
    expect(exit.code).toBe(0);
    const lines = jsonLines(exit.stdout);
    expect(lines.filter((line) => line.level === 'fatal')).toEqual([]);
    expect(lines.filter((line) => /sent but never recorded/.test(line.msg ?? ''))).toEqual([]);
    expect(exit.stderr).not.toMatch(/unhandled|uncaught/i);

    // Its deletion time comes (moved into the past), and the broadcast deleter runs once.
    await collections.broadcasts.updateOne(
      { _id: broadcast._id },
      { $set: { delete_at: new Date(Date.now() - 60_000) } },
    );
    const deleter = await procs.start('src/task-cli.ts', ['broadcast-deleter'], { env }).exited;
    expect(deleter.code, deleter.stderr).toBe(0);
    expect(lastJsonLine(deleter.stdout)).toMatchObject({
      status: 'succeeded',
      result: { broadcasts: 1, messagesDeleted: recorded.length, failed: 0, deferred: 0 },
    });
    expect(copies()).toEqual([]);
    expect(await collections.broadcastMessages.countDocuments()).toBe(0);
    expect(await collections.broadcasts.countDocuments()).toBe(0);
    console.log(
      `[faults] broadcast through a MongoDB outage: ${copiesAtStop} copies out when the database stopped, ` +
        `${copiesWhileDown - copiesAtStop} more in flight (TELEGRAM_CONCURRENCY ${CONCURRENCY}); the admin told after ` +
        `${toldAfter.toFixed(1)} s (patience ${LEASE_SECONDS} s), database down ${downFor.toFixed(1)} s; ` +
        `${recorded.length}/${inChats.length} copies recorded once it was back, ${unrecorded.length} unrecorded; ` +
        `ended interrupted, the process kept running and exited 0; the deleter deleted all ${recorded.length}`,
    );
  });
});
