import { contentLink } from '../../../bot/links.js';
import type { RunDoc } from '../../../db/collections.js';
import type { FakeBotApi, InspectedMessage } from '../fake-bot-api/index.js';
import { CHAOS, type Execution } from './instance.js';
import type { Interval, LedgerBroadcast, LedgerRecord, RunStats, WindowEvent } from './world.js';

export interface WorldFacts {
  fake: FakeBotApi;
  botUsername: string;
  records: LedgerRecord[];
  broadcasts: LedgerBroadcast[];
  visibleCopies: Array<{ chatId: number; messageId: number; sourceMessageId: number; date: number }>;
  pending: Array<{ id: string; chatId: number; messageIds: number[]; deleteAt: number }>;
  /** Copies still in broadcast_messages after the sweep: recorded, but their broadcast is gone. */
  recordedLeft: Array<{ chatId: number; messageId: number; broadcastId: string }>;
  runs: RunDoc[];
  executions: Execution[];
  kills: Map<string, number>;
  stalls: Interval[];
  outages: Interval[];
  /** The documented crash windows this run opened (see WindowEvent). */
  windows: WindowEvent[];
  /** Moments the whole test process stood still (every instance and the emulator alike). */
  pauses: Interval[];
  /** The world's clock at the end. */
  now: number;
}

/**
 * The invariants of issue #10, checked after the faults were cleared and the final sweep found
 * nothing more to do. Returns one line per violation (empty when all hold).
 *
 * The documented windows: an instance that is dead to the others (killed, its exit cutting work
 * short, or unable to reach MongoDB for longer than the lease because it stalled or MongoDB was
 * down) may repeat up to DELETION_BATCH_SIZE notices (sent, record not yet removed) and leave up
 * to TELEGRAM_CONCURRENCY copies per broadcast it was sending (sent, not recorded before the
 * broadcast was deleted).
 */
export function checkInvariants(facts: WorldFacts, stats: RunStats): string[] {
  const violations: string[] = [];
  const windows = facts.windows.length;
  const sendingWindows = facts.windows.reduce((sum, event) => sum + event.sendingBroadcasts, 0);
  const described = describeWindows(facts.windows);
  const visibleIn = new Map<number, Set<number>>();
  const visible = (chatId: number, messageId: number) => {
    let ids = visibleIn.get(chatId);
    if (!ids) {
      ids = new Set(facts.fake.messages(chatId).map((message) => message.message_id));
      visibleIn.set(chatId, ids);
    }
    return ids.has(messageId);
  };

  // (1) Every message scheduled for deletion is deleted (no chat is ever gone in these runs).
  const undeleted = facts.records.filter((record) =>
    record.messageIds.some((id) => visible(record.chatId, id)),
  );
  if (undeleted.length > 0) {
    violations.push(
      `(1) ${undeleted.length} record(s) with messages still in the chat: ${undeleted
        .map(
          (record) =>
            `chat ${record.chatId} ids ${record.messageIds.filter((id) => visible(record.chatId, id)).join(',')} (${record.contentId}, created ${hours(facts.now - record.createdAt)} h ago, due ${hours(facts.now - record.deleteAt)} h ago)`,
        )
        .join('; ')}`,
    );
  }

  // (2) No pending_deletions record is left with live messages.
  const liveRecords = facts.pending.filter((record) =>
    record.messageIds.some((id) => visible(record.chatId, id)),
  );
  if (liveRecords.length > 0) {
    violations.push(
      `(2) ${liveRecords.length} pending_deletions record(s) left with live messages: ${JSON.stringify(liveRecords)}`,
    );
  }

  // (3) No copy of an expired broadcast left visible beyond the documented window.
  // A copy is left either unrecorded (sent, its answer lost with the process) or recorded after its
  // broadcast was deleted (a sender that resumed after a stall longer than the lease, whose
  // broadcast another instance had meanwhile declared interrupted and deleted).
  stats.leftCopies = facts.visibleCopies.length;
  const recorded = new Set(facts.recordedLeft.map((copy) => `${copy.chatId}:${copy.messageId}`));
  stats.orphanedCopies = facts.recordedLeft.length;
  const copyAllowance = CHAOS.concurrency * sendingWindows;
  if (facts.visibleCopies.length > copyAllowance) {
    const owners = new Map(facts.broadcasts.map((broadcast) => [broadcast.sourceMessageId, broadcast.owner]));
    const detail = facts.visibleCopies.map((copy) => {
      const owner = owners.get(copy.sourceMessageId) ?? '?';
      const state = facts.kills.has(owner)
        ? 'killed'
        : facts.stalls.some((stall) => stall.long && stall.instance === owner)
          ? 'stalled'
          : 'live';
      return `chat ${copy.chatId} #${copy.messageId} (broadcast of ${owner}, ${state}, ${recorded.has(`${copy.chatId}:${copy.messageId}`) ? 'recorded' : 'unrecorded'})`;
    });
    violations.push(
      `(3) ${facts.visibleCopies.length} broadcast copies still visible after every broadcast expired; the documented window allows ${copyAllowance} (TELEGRAM_CONCURRENCY ${CHAOS.concurrency} x ${sendingWindows} broadcast(s) being sent at ${described}): ${detail.join('; ')}`,
    );
  }

  // (4) No two runs of one job overlapped (accounting as described in overlapFailures).
  violations.push(...overlapFailures(facts, stats));

  // (5) Each notice at most once beyond the documented window, and every record got one.
  let repeats = 0;
  const missing: string[] = [];
  for (const record of facts.records) {
    const link = contentLink(facts.botUsername, record.contentId);
    const view = facts.fake.chat(record.chatId);
    const all: InspectedMessage[] = [...view.messages, ...view.deleted.map((deleted) => deleted.message)];
    const notices = all.filter((message) =>
      message.reply_markup?.inline_keyboard.some((row) =>
        row.some((button) => 'url' in button && button.url === link),
      ),
    ).length;
    if (notices === 0) missing.push(`${record.contentId} (chat ${record.chatId})`);
    repeats += Math.max(0, notices - 1);
  }
  stats.repeatedNotices = repeats;
  if (missing.length > 0)
    violations.push(`(5) ${missing.length} record(s) never got their notice: ${missing.join(', ')}`);
  const noticeAllowance = CHAOS.batchSize * windows;
  if (repeats > noticeAllowance) {
    violations.push(
      `(5) ${repeats} repeated notice(s); the documented window allows ${noticeAllowance} (DELETION_BATCH_SIZE ${CHAOS.batchSize} x ${windows}: ${described})`,
    );
  }
  return violations;
}

/**
 * Two executions (job bodies, one per attempt) of one job must never overlap
 * in time. An execution stops counting from the moment its run can no longer be accountable:
 *
 * - its instance was killed (or exited with work cut short): the code may still be unwinding in
 *   this test process, but nothing it does reaches the world;
 * - a stall of its instance longer than the lease began after the run was claimed: to the
 *   database the process is dead (no heartbeat for a lease), another instance may rightly declare
 *   the claim abandoned and take over, and the stalled run notices only when it can talk again
 *   (its next heartbeat or confirmClaim); that is the documented stall window;
 * - a MongoDB outage longer than the lease began after the run was claimed: no heartbeat reached
 *   the database for a lease, the same situation for every instance at once.
 *
 * Short stalls and outages (well under the lease) excuse nothing: no claim may be lost to them.
 */
function overlapFailures(facts: WorldFacts, stats: RunStats): string[] {
  const claimedAt = new Map(facts.runs.map((run) => [run._id, run.started_at.getTime()]));
  const firstStart = new Map<string, number>();
  for (const execution of facts.executions) {
    firstStart.set(execution.runId, Math.min(firstStart.get(execution.runId) ?? Infinity, execution.start));
  }
  const accountableUntil = (execution: Execution): number => {
    const claimed = claimedAt.get(execution.runId) ?? firstStart.get(execution.runId) ?? execution.start;
    let until = facts.kills.get(execution.instance) ?? Number.POSITIVE_INFINITY;
    for (const stall of facts.stalls) {
      if (stall.long && stall.instance === execution.instance && stall.start >= claimed) {
        until = Math.min(until, stall.start);
      }
    }
    for (const outage of facts.outages) {
      if (outage.long && outage.start >= claimed) until = Math.min(until, outage.start);
    }
    return until;
  };
  const failures: string[] = [];
  const executions = facts.executions.map((execution) => ({
    execution,
    end: execution.end ?? Number.POSITIVE_INFINITY,
    accountableEnd: Math.min(execution.end ?? Number.POSITIVE_INFINITY, accountableUntil(execution)),
  }));
  for (let i = 0; i < executions.length; i++) {
    for (let j = i + 1; j < executions.length; j++) {
      const a = executions[i]!;
      const b = executions[j]!;
      // Attempts of one run must not overlap either (an aborted attempt is awaited before a retry).
      if (a.execution.job !== b.execution.job) continue;
      const start = Math.max(a.execution.start, b.execution.start);
      if (start >= Math.min(a.end, b.end)) continue;
      if (start < Math.min(a.accountableEnd, b.accountableEnd)) {
        const from = Math.min(a.execution.start, b.execution.start) - 1_000;
        const pauses = facts.pauses
          .filter((pause) => (pause.end ?? 0) >= from && pause.start <= start)
          .map((pause) => `${pause.start}+${(pause.end ?? pause.start) - pause.start} ms`);
        failures.push(
          `(4) ${a.execution.job}: ${describe(a.execution, a.end)} and ${describe(b.execution, b.end)} overlapped, both accountable (test process pauses before: ${pauses.join(', ') || 'none'}; kills ${JSON.stringify([...facts.kills])}; stalls ${JSON.stringify(facts.stalls)}; outages ${JSON.stringify(facts.outages)})`,
        );
      } else {
        stats.excusedOverlaps += 1;
      }
    }
  }
  return failures;
}

function describeWindows(windows: WindowEvent[]): string {
  if (windows.length === 0) return 'no kill, cut exit, long stall or long outage';
  const counts = new Map<string, number>();
  for (const event of windows) counts.set(event.kind, (counts.get(event.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}(s)`).join(', ');
}

function describe(execution: Execution, end: number): string {
  return `${execution.runId} attempt ${execution.attempt} on ${execution.instance} [${execution.start}, ${Number.isFinite(end) ? end : 'never ended'}]`;
}

function hours(ms: number): string {
  return (ms / 3_600_000).toFixed(2);
}
