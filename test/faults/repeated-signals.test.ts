import { afterEach, describe, expect, it } from 'vitest';
import { getCollections } from '../../db/collections.js';
import { type FakeBotApi, startFakeBotApi } from '../support/fake-bot-api/index.js';
import { processEnv, runsOf, seedPendingDeletions } from '../support/fault-scenarios.js';
import {
  commandLine,
  descendants,
  isRunning,
  jsonLines,
  ScriptProcesses,
} from '../support/process-control.js';
import { PROJECT_ROOT, type RunningProcess } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { waitFor } from '../support/wait.js';

const ROUNDS = 10;
const BATCH = 20;
const ORDER = [
  'stop requested',
  'already stopping; the signal is ignored',
  'scheduler stopped',
  'MongoDB connection closed',
];

/**
 * A stop often brings its signal more than once: a terminal's Ctrl-C or systemd signal the whole
 * process group, and `npm start` passes the signal on to the bot as well. The bot process is
 * signalled through its group (`kill -TERM -<pgid>`) twice while a deleter run has notices in
 * flight, started directly (`node --import tsx src/main.ts`) and through `npm start`.
 */
describe('SIGTERM and SIGINT to the whole process group, twice, during a run', () => {
  const db = useTestDatabase();
  const procs = new ScriptProcesses();
  const fakes: FakeBotApi[] = [];

  afterEach(async () => {
    await procs.killAll();
    await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
  });

  /**
   * One stop: the bot (directly or through npm) on its own database, a deleter run with notices
   * in flight, the signal to the process group, and again once the bot says it is stopping.
   */
  async function stopTwiceDuringRun(options: {
    viaNpm: boolean;
    signal: NodeJS.Signals;
    dbName: string;
    firstChatId: number;
  }): Promise<{ ignored: number; elapsedMs: number }> {
    const { viaNpm, signal, firstChatId } = options;
    const label = `${viaNpm ? 'npm start' : 'src/main.ts'}, ${signal}`;
    // Its own Bot API server too: two bots polling one token would conflict (409).
    const fake = await startFakeBotApi();
    fakes.push(fake);
    // Notices stay in flight for a while: messages already sent are not cancelled on the wire,
    // so the stop has to wait for them, and the repeated signal lands during the stop.
    fake.setLatency('deleteMessages', 10);
    fake.setLatency('sendMessage', 600);
    const database = db().client.db(options.dbName);
    // Due work, one record per chat: the run's first batch has notices to send.
    await seedPendingDeletions(fake, getCollections(database), {
      records: BATCH,
      chats: BATCH,
      firstChatId,
      contentPrefix: `sig${firstChatId}c`,
    });
    const env = processEnv(
      fake,
      { uri: db().uri, dbName: options.dbName },
      { MESSAGE_DELETER_CRON: '*/2 * * * * *', DELETION_BATCH_SIZE: String(BATCH) },
    );
    const proc: RunningProcess = viaNpm
      ? procs.startProgram('npm', ['start'], { cwd: PROJECT_ROOT, env })
      : procs.start('src/main.ts', [], { env });
    const groupId = proc.child.pid as number;
    await proc.waitForLine((line) => line.includes('bot is polling for updates'));
    const botPid = viaNpm
      ? await waitFor(() => descendants(groupId).find((pid) => commandLine(pid).includes('src/main.ts')), {
          message: 'the bot process under npm',
        })
      : groupId;

    // In the middle of the run: the notices go out ten at a time (TELEGRAM_CONCURRENCY); once
    // the first of them is answered, the next one is on the wire for the latency's length.
    const noticesSent = () =>
      fake.calls.filter(
        (call) =>
          call.method === 'sendMessage' &&
          call.ok &&
          Number(call.params.chat_id) >= firstChatId &&
          Number(call.params.chat_id) < firstChatId + BATCH,
      ).length;
    await waitFor(() => noticesSent() >= 1, {
      timeoutMs: 15_000,
      intervalMs: 2,
      message: `${label}: the run to be sending notices`,
    });
    const running = await runsOf(database).findOne({ job: 'message-deleter', status: 'running' });
    expect(running, `${label}: a run is in flight`).not.toBeNull();

    const signalledAt = performance.now();
    process.kill(-groupId, signal);
    await proc.waitForLine((line) => line.includes('"stop requested"'));
    process.kill(-groupId, signal);
    const exit = await proc.exited;
    const elapsedMs = Math.round(performance.now() - signalledAt);

    expect(exit.code, `${label}:\n${exit.stderr}`).toBe(0);
    await waitFor(() => !isRunning(botPid), { message: `${label}: the bot process to be gone` });
    const lines = jsonLines(exit.stdout);
    const texts = lines.map((line) => line.msg);
    const positions = ORDER.map((text) => texts.indexOf(text));
    expect(
      positions.every((index) => index >= 0),
      `${label}: ${JSON.stringify(texts)}`,
    ).toBe(true);
    expect(
      [...positions].sort((a, b) => a - b),
      `${label}: ${JSON.stringify(texts)}`,
    ).toEqual(positions);
    // Every repeat is logged and ignored, all of them before the stop ends.
    const ignored = lines.filter((line) => line.msg === 'already stopping; the signal is ignored');
    expect(ignored.every((line) => line.signal === signal)).toBe(true);
    expect(texts.lastIndexOf('already stopping; the signal is ignored')).toBeLessThan(
      texts.indexOf('MongoDB connection closed'),
    );
    expect(texts).not.toContain('some jobs did not stop in time; their claims will be released by lease');
    // A stop is not a failure: nothing claims to retry.
    expect(texts).not.toContain('attempt failed; retrying');
    expect(lines.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(await runsOf(database).findOne({ _id: running!._id })).toMatchObject({
      status: 'abandoned',
      error: expect.stringMatching(/stopping/),
    });
    return { ignored: ignored.length, elapsedMs };
  }

  it(`exits 0 after an orderly stop every time (${ROUNDS} stops: src/main.ts and npm start, SIGTERM and SIGINT)`, async () => {
    // Must hold, for every stop: the process (and npm, when started through it) exits 0; the log
    // says 'stop requested', then 'already stopping; the signal is ignored' for the repeats, then
    // 'scheduler stopped', then 'MongoDB connection closed', in that order; the run in flight is
    // recorded `abandoned` because of the stop (not cut off by the lease) and no attempt is said
    // to be retried; no job is left running past the budget; nothing is logged at level error or
    // fatal; the bot's node process is gone afterwards.
    const summary: string[] = [];
    const stopMs: number[] = [];
    const databases: string[] = [];
    try {
      // Each round stops a bot started directly and one started through npm, side by side, each
      // on its own database.
      for (let round = 0; round < ROUNDS / 2; round++) {
        const signal: NodeJS.Signals = round % 2 === 0 ? 'SIGTERM' : 'SIGINT';
        const outcomes = await Promise.all(
          [false, true].map((viaNpm, index) => {
            const dbName = `${db().dbName}_${round}${index}`;
            databases.push(dbName);
            return stopTwiceDuringRun({
              viaNpm,
              signal,
              dbName,
              firstChatId: 80_000 + round * 100 + index * 50,
            });
          }),
        );
        outcomes.forEach((outcome, index) => {
          stopMs.push(outcome.elapsedMs);
          summary.push(
            `${index === 1 ? 'npm' : 'node'}/${signal}: ${outcome.ignored} ignored, ${outcome.elapsedMs} ms`,
          );
        });
      }
    } finally {
      await Promise.all(
        databases.map((name) =>
          db()
            .client.db(name)
            .dropDatabase()
            .catch(() => undefined),
        ),
      );
    }
    console.log(
      `[faults] repeated signals to the process group: ${stopMs.length}/${ROUNDS} stops exited 0 after an orderly stop ` +
        `(stop ${Math.min(...stopMs)}-${Math.max(...stopMs)} ms); ${summary.join('; ')}`,
    );
  });
});
