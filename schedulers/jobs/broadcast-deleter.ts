import type { ObjectId } from 'mongodb';
import pMap from 'p-map';
import { stillDeletable } from '../../bot/deletion/deletion-window.js';
import { countDaily } from '../../bot/services/daily-stats.js';
import type { StoredBroadcast, StoredBroadcastMessage } from '../../db/repositories/broadcasts.js';
import type { Bookmark } from '../../db/repositories/pending-deletions.js';
import { forEachPage } from './batches.js';
import type { JobDeps, RunInput } from './deps.js';

export interface BroadcastDeleterResult extends Record<string, number> {
  /** Broadcasts fully deleted and removed. */
  broadcasts: number;
  /** Copies confirmed gone from recipients' chats. */
  messagesDeleted: number;
  /** Copies that can no longer be deleted (older than 48 hours, chat gone). */
  failed: number;
  /** Copies left for the next run after a transient failure. */
  deferred: number;
}

/** Expired broadcasts read per query. */
const BROADCAST_PAGE = 20;

/**
 * Deletes expired broadcasts from every recipient's chat. The seed loaded every user and asked
 * Telegram for each; here the delivered copies (`broadcast_messages`, one per recipient) are read
 * page by page, so memory stays flat however many recipients there are, and each page's copies
 * are removed in one `deleteMany` once handled. The broadcast document goes last, when no copy is
 * left. A run keeps looking for broadcasts that expire while it works (a big one can take an
 * hour), so none waits for a later run.
 */
export async function deleteExpiredBroadcasts(
  deps: JobDeps,
  input: RunInput,
): Promise<BroadcastDeleterResult> {
  const result: BroadcastDeleterResult = { broadcasts: 0, messagesDeleted: 0, failed: 0, deferred: 0 };
  await forEachPage<StoredBroadcast, Bookmark>({
    // The clock, not the run's start: broadcasts expiring during the run are picked up too.
    fetch: (after, limit) =>
      deps.repos.broadcasts.expiredPage(input.dryRun ? input.now : input.clock(), after, limit),
    bookmark: (broadcast) => ({ at: broadcast.delete_at, id: broadcast._id }),
    size: BROADCAST_PAGE,
    signal: input.signal,
    handle: async (page) => {
      for (const broadcast of page) {
        if (input.signal.aborted) return;
        await handleBroadcast(deps, input, broadcast, result);
      }
    },
  });
  return result;
}

async function handleBroadcast(
  deps: JobDeps,
  input: RunInput,
  broadcast: StoredBroadcast,
  result: BroadcastDeleterResult,
): Promise<void> {
  if (input.dryRun) {
    result.broadcasts += 1;
    result.messagesDeleted += await deps.repos.broadcasts.countCopies(broadcast._id);
    return;
  }
  const deferredBefore = result.deferred;
  await forEachPage<StoredBroadcastMessage, ObjectId>({
    fetch: (after, limit) => deps.repos.broadcasts.copiesPage(broadcast._id, after, limit),
    bookmark: (copy) => copy._id,
    size: deps.batchSize,
    signal: input.signal,
    handle: (copies) => deleteBatch(deps, input, broadcast, copies, result),
  });
  if (input.signal.aborted || result.deferred > deferredBefore) return;
  if (broadcast.status === 'sending') {
    // Still going out (its sender stops at delete_at, or is found dead by the sweep); a later run
    // removes what it adds.
    input.logger.info(
      { broadcastId: broadcast._id.toHexString() },
      'broadcast still sending; removal postponed',
    );
    return;
  }
  if (await deps.repos.broadcasts.removeIfNoCopiesLeft(broadcast._id)) {
    result.broadcasts += 1;
    input.logger.info(
      { broadcastId: broadcast._id.toHexString(), counts: broadcast.counts },
      'expired broadcast deleted from every chat',
    );
  }
}

async function deleteBatch(
  deps: JobDeps,
  input: RunInput,
  broadcast: StoredBroadcast,
  copies: StoredBroadcastMessage[],
  result: BroadcastDeleterResult,
): Promise<void> {
  await input.confirmClaim();
  const remove: ObjectId[] = [];
  const retry: ObjectId[] = [];
  const unreachableChats: number[] = [];
  await pMap(
    copies,
    async (copy) => {
      if (input.signal.aborted) return;
      const deletion = await deps.engine.deleteFromChat(copy.chat_id, [copy.message_id], input.signal);
      // An abort is not a failure: the copy stays as it was for the next run.
      if (deletion.aborted) return;
      if (deletion.transientError !== undefined) {
        // Given up only once Telegram no longer lets it be deleted, never after a number of runs.
        if (stillDeletable(copy.sent_at ?? broadcast.created_at, input.now)) {
          retry.push(copy._id);
          return;
        }
        input.logger.warn(
          { chatId: copy.chat_id, messageId: copy.message_id, error: deletion.transientError },
          'giving up on a broadcast copy: it is past the 48 hours Telegram allows for deleting',
        );
        result.failed += 1;
        remove.push(copy._id);
        return;
      }
      result.messagesDeleted += deletion.done;
      if (deletion.done === 0) result.failed += 1;
      if (deletion.unreachable) unreachableChats.push(copy.chat_id);
      remove.push(copy._id);
    },
    { concurrency: deps.concurrency },
  );
  await deps.repos.broadcasts.removeCopies(remove);
  await deps.repos.broadcasts.recordCopyAttempt(retry);
  const newlyBlocked = await deps.repos.users.markBlockedByChat(unreachableChats, input.now);
  result.deferred += retry.length;
  await countDaily(
    { stats: deps.repos.stats, timezone: deps.timezone, logger: input.logger },
    input.clock(),
    {
      counts: { users_blocked: newlyBlocked },
    },
  );
}
