import type { ObjectId } from 'mongodb';
import pMap from 'p-map';
import { deletionNotice } from '../../bot/notices.js';
import { classifyTelegramError, describeTelegramError } from '../../bot/telegram/errors.js';
import { withTransientRetry } from '../../bot/telegram/retry.js';
import { forGrammy } from '../../bot/telegram/signal.js';
import type { DuePendingDeletion } from '../../db/repositories/pending-deletions.js';
import { forEachBatch } from './batches.js';
import type { JobDeps, RunInput } from './deps.js';

export interface MessageDeleterResult extends Record<string, number> {
  /** Records completed and removed. */
  records: number;
  /** Messages confirmed gone from users' chats. */
  messagesDeleted: number;
  /** "Deleted" notices sent. */
  notices: number;
  /** Messages that could not be deleted for good (too old, chat unreachable, given up). */
  failed: number;
  /** Records left for the next run after a transient failure. */
  deferred: number;
}

/** Per-batch bookkeeping, written to MongoDB in one round trip per kind. */
interface BatchOutcome {
  remove: ObjectId[];
  /** Records to try again on the next run, with the error that stopped each. */
  retry: Array<{ record: DuePendingDeletion; error: string }>;
  unreachableChats: number[];
}

/**
 * For every due `pending_deletions` record: delete its messages, send the "deleted" notice with a
 * "Click Here" button that brings the content back, then remove the record.
 *
 * Records stream from a cursor in batches. Within a batch, records of the same chat share one
 * `deleteMessages` call. A record is removed only after its messages and notice were handled, in
 * one `deleteMany` per batch; so a crash loses nothing, and the only repeat it can cause is the
 * notices of the batch in flight (sent, but their records not yet removed): at most `batchSize`.
 */
export async function deleteDueMessages(deps: JobDeps, input: RunInput): Promise<MessageDeleterResult> {
  const result: MessageDeleterResult = { records: 0, messagesDeleted: 0, notices: 0, failed: 0, deferred: 0 };
  const cursor = deps.repos.pendingDeletions.due(input.now, deps.batchSize);
  if (input.dryRun) {
    // for-await closes the cursor however the loop ends.
    for await (const record of cursor) {
      result.records += 1;
      result.messagesDeleted += new Set(record.message_ids).size;
      result.notices += 1;
    }
    return result;
  }
  await forEachBatch(cursor, deps.batchSize, input.signal, (batch) =>
    processBatch(deps, input, batch, result),
  );
  return result;
}

async function processBatch(
  deps: JobDeps,
  input: RunInput,
  records: DuePendingDeletion[],
  result: MessageDeleterResult,
): Promise<void> {
  const outcome: BatchOutcome = { remove: [], retry: [], unreachableChats: [] };
  const byChat = new Map<number, DuePendingDeletion[]>();
  for (const record of records) {
    const list = byChat.get(record.chat_id);
    if (list) list.push(record);
    else byChat.set(record.chat_id, [record]);
  }
  const username = await deps.botUsername();

  // Chats are independent; the shared rate limiter decides how fast calls actually go out, and
  // the small concurrency keeps users' own replies from queueing behind a big run.
  const needNotice = await pMap(
    byChat,
    ([chatId, chatRecords]) => deleteChatMessages(deps, input, chatId, chatRecords, outcome, result),
    { concurrency: deps.concurrency },
  );
  // Notices go out round-robin (every chat's first, then every chat's second, ...), so the
  // one-message-per-second spacing within a chat rarely keeps a worker waiting.
  const notices = needNotice.flatMap((list) => list.map((record, turn) => ({ record, turn })));
  notices.sort((a, b) => a.turn - b.turn);
  await pMap(notices, ({ record }) => sendNotice(deps, input, username, record, outcome, result), {
    concurrency: deps.concurrency,
  });

  // A record that keeps failing transiently is given up eventually, so one broken chat cannot
  // make every run retry it forever.
  const retryByError = new Map<string, ObjectId[]>();
  for (const { record, error } of outcome.retry) {
    const attempts = (record.attempts ?? 0) + 1;
    if (attempts >= deps.maxAttempts) {
      input.logger.warn(
        { recordId: record._id.toHexString(), chatId: record.chat_id, attempts, error },
        `giving up on a pending deletion after ${deps.maxAttempts} failed runs`,
      );
      result.failed += record.message_ids.length;
      outcome.remove.push(record._id);
    } else {
      retryByError.set(error, [...(retryByError.get(error) ?? []), record._id]);
      result.deferred += 1;
    }
  }
  await deps.repos.pendingDeletions.removeByIds(outcome.remove);
  // One write per distinct error (usually one), each record keeping the error that stopped it.
  for (const [error, ids] of retryByError) await deps.repos.pendingDeletions.recordAttempt(ids, error);
  await deps.repos.users.markBlockedByChat(outcome.unreachableChats, input.now);
  result.records += outcome.remove.length;
}

/** Deletes the messages of one chat's records; returns the records that now need a notice. */
async function deleteChatMessages(
  deps: JobDeps,
  input: RunInput,
  chatId: number,
  records: DuePendingDeletion[],
  outcome: BatchOutcome,
  result: MessageDeleterResult,
): Promise<DuePendingDeletion[]> {
  // Stopping: leave the chat untouched for the next run.
  if (input.signal.aborted) return [];
  const messageIds = records.flatMap((record) => record.message_ids);
  const deletion = await deps.engine.deleteFromChat(chatId, messageIds, input.signal);
  if (deletion.transientError !== undefined) {
    const error = deletion.transientError;
    outcome.retry.push(...records.map((record) => ({ record, error })));
    return [];
  }
  result.messagesDeleted += deletion.done;
  result.failed += deletion.refused;
  if (deletion.unreachable) {
    result.failed += new Set(messageIds).size - deletion.done - deletion.refused;
    outcome.unreachableChats.push(chatId);
    outcome.remove.push(...records.map((record) => record._id));
    input.logger.info({ chatId }, 'chat unreachable (blocked or gone); its pending deletions are dropped');
    return [];
  }
  const refused = new Set(deletion.refusedIds);
  return records.filter((record) => {
    if (!record.message_ids.every((id) => refused.has(id))) return true;
    // Nothing of it could be deleted: a "deleted" notice would be false.
    outcome.remove.push(record._id);
    return false;
  });
}

async function sendNotice(
  deps: JobDeps,
  input: RunInput,
  username: string,
  record: DuePendingDeletion,
  outcome: BatchOutcome,
  result: MessageDeleterResult,
): Promise<void> {
  // Stopping: the messages are gone, the record stays; the next run sends the notice.
  if (input.signal.aborted) return;
  const notice = deletionNotice(username, record.content_id);
  try {
    await withTransientRetry(
      () =>
        deps.api.sendMessage(
          record.chat_id,
          notice.text,
          { reply_markup: notice.reply_markup },
          forGrammy(input.signal),
        ),
      deps.telegramRetry,
      input.signal,
    );
    result.notices += 1;
    outcome.remove.push(record._id);
  } catch (error) {
    if (input.signal.aborted) return;
    const kind = classifyTelegramError(error);
    if (kind === 'unreachable') {
      outcome.unreachableChats.push(record.chat_id);
      outcome.remove.push(record._id);
    } else if (kind === 'transient' || kind === 'rate_limited') {
      // The messages are gone; the next run finds them "not found" and sends the notice then.
      outcome.retry.push({ record, error: describeTelegramError(error) });
    } else {
      input.logger.warn(
        { chatId: record.chat_id, answer: describeTelegramError(error) },
        'the deletion notice was refused',
      );
      outcome.remove.push(record._id);
    }
  }
}
