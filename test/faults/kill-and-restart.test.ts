import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { RunDoc } from '../../db/collections.js';
import {
  deleteCallsPerMessage,
  noticesPerRecord,
  processEnv,
  repeats,
  runsOf,
  seedExpiredBroadcast,
  seedPendingDeletions,
  undeletedMessages,
} from '../support/fault-scenarios.js';
import { killHard, lastJsonLine, scriptPid, useScriptProcesses } from '../support/process-control.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const LEASE_SECONDS = 2;

interface CliOutcome {
  job: string;
  status: string;
  result: Record<string, number>;
  runId: string;
  reason?: string;
}

/**
 * The one-shot CLI (`npm run task`) killed with SIGKILL in the middle of a run, then started again
 * until it reports success. The dead run's claim keeps `running` with a heartbeat that no longer
 * moves; with LEASE_SECONDS=2 the next claim after the lease declares it `abandoned`.
 */
describe('SIGKILL in the middle of a deleter run, then restart (one-shot CLI)', () => {
  const db = useTestDatabase();
  const procs = useScriptProcesses();
  const fake = useFakeBotApi('test');

  /** Kills the run once `killWhen` holds; returns the dead run's claim as it was left. */
  async function startAndKill(
    job: string,
    env: Record<string, string>,
    killWhen: () => boolean,
  ): Promise<{ claim: RunDoc; pid: number; killedAt: number }> {
    const proc = procs.start('src/task-cli.ts', [job], { env });
    const pid = await scriptPid(proc);
    await waitFor(killWhen, { timeoutMs: 60_000, intervalMs: 5, message: 'the run to get part of the way' });
    const killedAt = Date.now();
    const result = await killHard(proc, pid);
    // Killed before it could print its outcome.
    expect(result.stdout).toBe('');
    const claim = await runsOf(db().db).findOne({ job, status: 'running' });
    expect(claim).not.toBeNull();
    // The claim belongs to the process that was killed, and its heartbeats stopped with it.
    expect(claim?.instance).toBe(`cli:${hostname()}:${pid}`);
    expect(claim?.heartbeat_at?.getTime()).toBeLessThanOrEqual(killedAt);
    return { claim: claim as RunDoc, pid, killedAt };
  }

  /**
   * Runs the CLI until it succeeds. While the dead claim's lease is not over it answers `skipped`
   * (and does nothing); then the test waits until the database shows the lease expired (heartbeat
   * older than LEASE_SECONDS) and tries again.
   */
  async function rerunUntilSucceeded(job: string, env: Record<string, string>, deadRunId: string) {
    const outcomes: CliOutcome[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const getMeBefore = fake.callCount('getMe');
      const result = await procs.start('src/task-cli.ts', [job], { env }).exited;
      expect(result.code, result.stderr).toBe(0);
      const outcome = lastJsonLine<CliOutcome>(result.stdout);
      outcomes.push(outcome);
      if (outcome.status === 'succeeded') return outcomes;
      expect(outcome.status).toBe('skipped');
      expect(outcome.reason).toContain(deadRunId);
      // A skipped run never reached the job (the job's first call is getMe, for the bot's username).
      expect(fake.callCount('getMe')).toBe(getMeBefore);
      await waitFor(
        async () => {
          const dead = await runsOf(db().db).findOne({ _id: deadRunId });
          return (
            dead?.status !== 'running' ||
            (dead.heartbeat_at?.getTime() ?? 0) < Date.now() - LEASE_SECONDS * 1000
          );
        },
        { timeoutMs: 15_000, message: 'the dead claim to outlive its lease' },
      );
    }
    throw new Error(`the CLI never succeeded: ${JSON.stringify(outcomes)}`);
  }

  it('message-deleter: every due message ends deleted, no record is lost, the killed claim ends abandoned, and at most DELETION_BATCH_SIZE notices are repeated', async () => {
    // Must hold: after SIGKILL mid-run and a restart, every due message is deleted in the fake,
    // no pending_deletions record remains, every record got its notice, the dead run's claim is
    // `abandoned`, and notices sent twice are at most one batch (the documented crash window).
    const BATCH = 20;
    const records = await seedPendingDeletions(fake, db().collections, {
      records: 300,
      chats: 60,
      firstChatId: 11_000,
    });
    const env = processEnv(fake, db(), {
      DELETION_BATCH_SIZE: String(BATCH),
      LEASE_SECONDS: String(LEASE_SECONDS),
    });
    // About 200 ms per batch of 20: the run takes around three seconds.
    fake.setLatency('deleteMessages', 40);
    fake.setLatency('sendMessage', 40);

    // Killed while the sixth batch's notices go out (ten of its twenty sent).
    const { claim } = await startAndKill('message-deleter', env, () => fake.callCount('sendMessage') >= 110);
    const leftAfterKill = await db().collections.pendingDeletions.countDocuments();
    expect(leftAfterKill).toBeGreaterThan(0);
    expect(leftAfterKill).toBeLessThan(records.length);
    expect(undeletedMessages(fake, records).length).toBeGreaterThan(0);

    const outcomes = await rerunUntilSucceeded('message-deleter', env, claim._id);
    const final = outcomes.at(-1)!;
    expect(final.result).toMatchObject({ failed: 0, deferred: 0 });
    expect(final.result.records).toBeGreaterThan(0);

    expect(await db().collections.pendingDeletions.countDocuments()).toBe(0);
    expect(undeletedMessages(fake, records)).toEqual([]);
    const notices = noticesPerRecord(fake, records);
    expect(notices.filter((n) => n === 0)).toEqual([]);
    const repeated = repeats(notices);
    console.log(
      `[faults] message-deleter SIGKILL: ${leftAfterKill}/${records.length} records left at the kill, ` +
        `${repeated} notice(s) repeated (window: ${BATCH}), CLI runs after the kill: ${outcomes.map((o) => o.status).join(', ')}`,
    );
    expect(repeated).toBeLessThanOrEqual(BATCH);
    // Each chat ends with exactly its notices visible: the content is gone, nothing else.
    for (const chatId of new Set(records.map((record) => record.chatId))) {
      const visible = fake.chat(chatId).messages;
      expect(visible.every((message) => message.text?.startsWith('🗑'))).toBe(true);
    }

    const dead = await runsOf(db().db).findOne({ _id: claim._id });
    expect(dead).toMatchObject({ status: 'abandoned', error: expect.stringMatching(/no heartbeat/) });
    expect(await runsOf(db().db).findOne({ _id: final.runId })).toMatchObject({ status: 'succeeded' });
    expect(await runsOf(db().db).countDocuments({ job: 'message-deleter', status: 'running' })).toBe(0);
  });

  it('broadcast-deleter: every copy ends deleted, all broadcast_messages and the broadcast are gone, and the killed claim ends abandoned', async () => {
    // Must hold: after SIGKILL mid-run and a restart, every recipient's copy is deleted in the
    // fake, no broadcast_messages record and no broadcast document remain, the dead claim is
    // `abandoned`, and copies deleted twice are at most one batch.
    const BATCH = 100;
    const broadcast = await seedExpiredBroadcast(fake, db().collections, {
      recipients: 2_000,
      firstChatId: 200_000,
      adminChatId: 199_999,
    });
    const env = processEnv(fake, db(), {
      DELETION_BATCH_SIZE: String(BATCH),
      LEASE_SECONDS: String(LEASE_SECONDS),
    });
    fake.setLatency('deleteMessages', 15);

    const { claim } = await startAndKill(
      'broadcast-deleter',
      env,
      () => fake.callCount('deleteMessages') >= 850,
    );
    const leftAfterKill = await db().collections.broadcastMessages.countDocuments();
    expect(leftAfterKill).toBeGreaterThan(0);
    expect(leftAfterKill).toBeLessThan(broadcast.copies.length);

    const outcomes = await rerunUntilSucceeded('broadcast-deleter', env, claim._id);
    expect(outcomes.at(-1)!.result).toMatchObject({ broadcasts: 1, failed: 0, deferred: 0 });

    const stillVisible = broadcast.copies.filter((copy) =>
      fake.chat(copy.chatId).messages.some((message) => message.message_id === copy.messageId),
    );
    expect(stillVisible).toEqual([]);
    expect(await db().collections.broadcastMessages.countDocuments()).toBe(0);
    expect(await db().collections.broadcasts.countDocuments()).toBe(0);

    const perMessage = deleteCallsPerMessage(fake);
    const copyKeys = broadcast.copies.map((copy) => `${copy.chatId}:${copy.messageId}`);
    expect(copyKeys.filter((k) => (perMessage.get(k) ?? 0) === 0)).toEqual([]);
    const repeated = repeats(copyKeys.map((k) => perMessage.get(k) ?? 0));
    console.log(
      `[faults] broadcast-deleter SIGKILL: ${leftAfterKill}/${broadcast.copies.length} copies left at the kill, ` +
        `${repeated} copies deleted a second time (window: ${BATCH}), CLI runs after the kill: ${outcomes.map((o) => o.status).join(', ')}`,
    );
    expect(repeated).toBeLessThanOrEqual(BATCH);

    expect(await runsOf(db().db).findOne({ _id: claim._id })).toMatchObject({
      status: 'abandoned',
      error: expect.stringMatching(/no heartbeat/),
    });
    expect(await runsOf(db().db).countDocuments({ job: 'broadcast-deleter', status: 'running' })).toBe(0);
  });
});
