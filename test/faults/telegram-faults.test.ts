import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteDueMessages } from '../../schedulers/jobs/index.js';
import type { CallRecord } from '../support/fake-bot-api/index.js';
import { noticesPerRecord, seedPendingDeletions, undeletedMessages } from '../support/fault-scenarios.js';
import { type JobHarness, startJobHarness } from '../support/job-harness.js';
import { useTestDatabase } from '../support/test-db.js';

/**
 * The real message-deleter code in-process (job harness: the bulk call pipeline with its flood
 * gate, in-run retries of 5xx with a short backoff) against the fake answering 429 and 5xx. The
 * harness's flood gate waits by moving the clock it shares with the fake, so a 30-second wait
 * costs no real time and the fake's `time` shows it.
 */
describe('Telegram answering 429 and 5xx', () => {
  const db = useTestDatabase();
  let h: JobHarness;

  beforeEach(async () => {
    h = await startJobHarness(db(), { batchSize: 10, now: new Date() });
  });
  afterEach(() => h.close());

  it('a 429 burst and a long flood wait are waited out as retry_after says, 5xx-deferred records finish on a later run, and everything ends deleted once the server recovers', async () => {
    // Must hold: after each 429 the same call (method and chat) is sent again no sooner than
    // retry_after seconds later, however long that is (no record is given up or put off because
    // of a 429); 5xx answers are retried a bounded number of times within the run, then the
    // record stays with its attempt count and finishes on the next run; in the end every message
    // is deleted, every record is gone and every record got exactly one notice.
    const records = await seedPendingDeletions(h.fake, db().collections, {
      records: 30,
      chats: 30,
      firstChatId: 31_000,
    });
    const chat = (index: number) => records[index]!.chatId;
    const deleteDown = [chat(3), chat(17)];
    const noticeDown = chat(8);
    const longWait = chat(22);

    // Chat-specific faults first: the fake uses the first matching fault.
    h.fake.injectFault({ method: 'deleteMessages', chatId: deleteDown[0], status: 502, times: Infinity });
    h.fake.injectFault({ method: 'deleteMessages', chatId: deleteDown[1], status: 503, times: Infinity });
    h.fake.injectFault({ method: 'sendMessage', chatId: noticeDown, status: 500, times: Infinity });
    h.fake.injectFault({ method: 'deleteMessages', chatId: longWait, status: 429, retryAfter: 30 });
    // The burst: the next calls of any chat.
    h.fake.injectFault({ method: 'deleteMessages', status: 429, retryAfter: 1, times: 4 });
    h.fake.injectFault({ method: 'sendMessage', status: 429, retryAfter: 2, times: 3 });
    // A short 5xx blip that the in-run retries absorb.
    h.fake.injectFault({ method: 'deleteMessages', status: 503, times: 2 });

    const first = await deleteDueMessages(h.deps, h.input(new Date()));
    const firstRunCalls = h.fake.calls.length;

    expect(first).toEqual({
      records: 27,
      // The notice-less chat's messages are gone already; only its notice is missing.
      messagesDeleted: 28 * 2,
      notices: 27,
      failed: 0,
      deferred: 3,
    });
    const left = await db().collections.pendingDeletions.find().sort({ chat_id: 1 }).toArray();
    expect(left.map((record) => [record.chat_id, record.attempts])).toEqual(
      [...deleteDown, noticeDown].sort((a, b) => a - b).map((chatId) => [chatId, 1]),
    );
    expect(undeletedMessages(h.fake, [records[22]!])).toEqual([]);
    // Each keeps the transient error that deferred it (status and Telegram's description).
    for (const record of left) expect(record.last_error).toMatch(/^(5\d\d|429) \S/);
    // 5xx: the first call plus the harness's 2 in-run retries, then the chat waits for the next run.
    const callsTo = (method: string, chatId: number, calls: readonly CallRecord[]) =>
      calls.filter((call) => call.method === method && call.params.chat_id === chatId);
    const firstCalls = h.fake.calls.slice(0, firstRunCalls);
    expect(callsTo('deleteMessages', deleteDown[0]!, firstCalls).map((call) => call.status)).toEqual([
      502, 502, 502,
    ]);
    expect(callsTo('sendMessage', noticeDown, firstCalls).map((call) => call.status)).toEqual([
      500, 500, 500,
    ]);

    // The server recovers.
    h.fake.clearFaults();
    const second = await deleteDueMessages(h.deps, h.input(new Date()));
    expect(second).toMatchObject({ records: 3, notices: 3, failed: 0, deferred: 0 });

    // Every 429 is followed by the same call again within the run, no sooner than retry_after
    // (`time` is when the fake answered, on the clock it shares with the flood gate).
    const calls = h.fake.calls;
    const waits: string[] = [];
    let rateLimited = 0;
    calls.forEach((call, index) => {
      if (call.status !== 429) return;
      rateLimited += 1;
      const retryAfter = call.retryAfter ?? 0;
      const nextIndex = calls.findIndex(
        (later, laterIndex) =>
          laterIndex > index && later.method === call.method && later.params.chat_id === call.params.chat_id,
      );
      expect(nextIndex, `no retry after the 429 of ${call.method} to ${call.params.chat_id}`).toBeGreaterThan(
        index,
      );
      const next = calls[nextIndex]!;
      const waited = next.time - call.time;
      waits.push(`${call.method} retry_after ${retryAfter}s -> ${waited} ms`);
      expect(waited).toBeGreaterThanOrEqual(retryAfter * 1000);
      // Within the run: nothing is put off to a later run because of a 429. (The retried call
      // may meet another scripted 429 of the burst, or the 5xx blip, and is sent again after that.)
      expect(nextIndex).toBeLessThan(firstRunCalls);
    });
    expect(rateLimited).toBe(1 + 4 + 3);
    expect(h.gateWaits().some((ms) => ms >= 29_000)).toBe(true);
    console.log(`[faults] waits observed after 429: ${waits.join('; ')}`);

    expect(await db().collections.pendingDeletions.countDocuments()).toBe(0);
    expect(undeletedMessages(h.fake, records)).toEqual([]);
    expect(noticesPerRecord(h.fake, records)).toEqual(records.map(() => 1));
  });
});
