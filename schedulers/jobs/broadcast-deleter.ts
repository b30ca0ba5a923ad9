import type { ObjectId } from 'mongodb';
import pMap from 'p-map';
import type { StoredBroadcast, StoredBroadcastMessage } from '../../db/repositories/broadcasts.js';
import { forEachBatch } from './batches.js';
import type { JobDeps, RunInput } from './deps.js';

export interface BroadcastDeleterResult extends Record<string, number> {
  /** Broadcasts fully deleted and removed. */
  broadcasts: number;
  /** Copies confirmed gone from recipients' chats. */
  messagesDeleted: number;
  /** Copies that could not be deleted for good (too old, chat unreachable, given up). */
  failed: number;
  /** Copies left for the next run after a transient failure. */
  deferred: number;
}

/** Expired broadcasts handled per run; the rest wait for the next hourly run. */
const MAX_BROADCASTS_PER_RUN = 100;

/**
 * Deletes expired broadcasts from every recipient's chat. The seed loaded every user and asked
 * Telegram for each; here the delivered copies (`broadcast_messages`, one per recipient) stream in
 * batches, so memory stays flat however many recipients there are, and each batch's copies are
 * removed in one `deleteMany` once handled. The broadcast document goes last, when no copy is left.
 */
export async function deleteExpiredBroadcasts(
  deps: JobDeps,
  input: RunInput,
): Promise<BroadcastDeleterResult> {
  const result: BroadcastDeleterResult = { broadcasts: 0, messagesDeleted: 0, failed: 0, deferred: 0 };
  // Ids first: a cursor held open across an hour of deletions would time out on the server.
  const expired = await deps.repos.broadcasts.expired(input.now).limit(MAX_BROADCASTS_PER_RUN).toArray();
  for (const broadcast of expired) {
    if (input.signal.aborted) break;
    if (input.dryRun) {
      result.broadcasts += 1;
      result.messagesDeleted += await deps.repos.broadcasts.countCopies(broadcast._id);
      continue;
    }
    const deferredBefore = result.deferred;
    await deleteCopies(deps, input, broadcast, result);
    if (input.signal.aborted || result.deferred > deferredBefore) continue;
    if (broadcast.status === 'sending') {
      // Still going out (its sender stops at delete_at); a later run removes what it adds.
      input.logger.info(
        { broadcastId: broadcast._id.toHexString() },
        'broadcast still sending; removal postponed',
      );
      continue;
    }
    if (await deps.repos.broadcasts.removeIfNoCopiesLeft(broadcast._id)) {
      result.broadcasts += 1;
      input.logger.info(
        { broadcastId: broadcast._id.toHexString(), counts: broadcast.counts },
        'expired broadcast deleted from every chat',
      );
    }
  }
  return result;
}

async function deleteCopies(
  deps: JobDeps,
  input: RunInput,
  broadcast: StoredBroadcast,
  result: BroadcastDeleterResult,
): Promise<void> {
  await forEachBatch(
    deps.repos.broadcasts.copies(broadcast._id, deps.batchSize),
    deps.batchSize,
    input.signal,
    (batch) => deleteBatch(deps, input, batch, result),
  );
}

async function deleteBatch(
  deps: JobDeps,
  input: RunInput,
  copies: StoredBroadcastMessage[],
  result: BroadcastDeleterResult,
): Promise<void> {
  const remove: ObjectId[] = [];
  const retry: ObjectId[] = [];
  const unreachableChats: number[] = [];
  await pMap(
    copies,
    async (copy) => {
      if (input.signal.aborted) return;
      const deletion = await deps.engine.deleteFromChat(copy.chat_id, [copy.message_id], input.signal);
      if (deletion.transientError !== undefined) {
        if (input.signal.aborted) return;
        if ((copy.attempts ?? 0) + 1 >= deps.maxAttempts) {
          input.logger.warn(
            { chatId: copy.chat_id, messageId: copy.message_id, error: deletion.transientError },
            `giving up on a broadcast copy after ${deps.maxAttempts} failed runs`,
          );
          result.failed += 1;
          remove.push(copy._id);
        } else {
          retry.push(copy._id);
        }
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
  await deps.repos.users.markBlockedByChat(unreachableChats, input.now);
  result.deferred += retry.length;
}
