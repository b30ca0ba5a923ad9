import type { ObjectId } from 'mongodb';
import pMap from 'p-map';
import { stillDeletable } from '../../bot/deletion/deletion-window.js';
import { deletionNotice } from '../../bot/notices.js';
import { countDaily } from '../../bot/services/daily-stats.js';
import { persist } from '../../bot/services/persistent-write.js';
import { classifyTelegramError, describeTelegramError } from '../../bot/telegram/errors.js';
import { withTransientRetry } from '../../bot/telegram/retry.js';
import { forGrammy } from '../../bot/telegram/signal.js';
import type { Bookmark, DuePendingDeletion } from '../../db/repositories/pending-deletions.js';
import { forEachPage } from './batches.js';
import type { JobDeps, RunInput } from './deps.js';

export interface MessageDeleterResult extends Record<string, number> {
  /** Records completed and removed. */
  records: number;
  /** Messages confirmed gone from users' chats. */
  messagesDeleted: number;
  /** "Deleted" notices sent. */
  notices: number;
  /** Messages that can no longer be deleted (older than 48 hours, chat gone). */
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

/** How long a stopping run keeps trying to remove a batch whose notices it sent. */
const REMOVAL_WIND_DOWN_MS = 5_000;

const bookmarkBy =
  (field: 'delete_at' | 'created_at') =>
  (record: DuePendingDeletion): Bookmark => ({ at: record[field], id: record._id });

/**
 * For every due `pending_deletions` record: delete its messages, send the "deleted" notice with a
 * "Click Here" button that brings the content back, then remove the record.
 *
 * Two passes, each read page by page from a bookmark: first the records nearest to Telegram's
 * 48-hour limit (oldest `created_at`; normally none, after an outage the ones that must not wait
 * behind the backlog), then every due record in `delete_at` order. Within a page, records of the
 * same chat share one `deleteMessages` call. A record leaves the collection only once its
 * messages are gone (or Telegram says they are), or can no longer be deleted; an abort leaves
 * what it did not finish untouched. The only repeat a crash can cause is the notices of the page
 * in flight (sent, but their records not yet removed): at most `batchSize`.
 */
export async function deleteDueMessages(deps: JobDeps, input: RunInput): Promise<MessageDeleterResult> {
  const result: MessageDeleterResult = { records: 0, messagesDeleted: 0, notices: 0, failed: 0, deferred: 0 };
  const repo = deps.repos.pendingDeletions;
  const urgentBefore = new Date(input.now.getTime() - deps.contentSafeLifetimeMs());
  const handled = new Set<string>();
  const handle = async (page: DuePendingDeletion[]) => {
    // A record handled (and deferred) in the urgent pass shows up again in the due pass.
    const fresh = page.filter((record) => !handled.has(record._id.toHexString()));
    for (const record of fresh) handled.add(record._id.toHexString());
    if (fresh.length === 0) return;
    if (input.dryRun) {
      for (const record of fresh) {
        result.records += 1;
        result.messagesDeleted += new Set(record.message_ids).size;
        if (record.message_ids.length > 0) result.notices += 1;
      }
      return;
    }
    await processBatch(deps, input, fresh, result);
  };
  await forEachPage({
    fetch: (after, limit) => repo.urgentPage(urgentBefore, after, limit),
    bookmark: bookmarkBy('created_at'),
    size: deps.batchSize,
    signal: input.signal,
    handle,
  });
  await forEachPage({
    fetch: (after, limit) => repo.duePage(input.now, after, limit),
    bookmark: bookmarkBy('delete_at'),
    size: deps.batchSize,
    signal: input.signal,
    handle,
  });
  return result;
}

async function processBatch(
  deps: JobDeps,
  input: RunInput,
  records: DuePendingDeletion[],
  result: MessageDeleterResult,
): Promise<void> {
  // Before anything visible: a run that lost its claim (a stall longer than the lease) must not
  // work beside the instance that took over.
  await input.confirmClaim();
  // This batch's share of the run's counts goes to the daily statistics once it is done.
  const before = { ...result };
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

  // A record is given up only when its messages are past Telegram's 48 hours: until then every
  // run tries again, however many runs failed before (an outage does not use up a record).
  const retryByError = new Map<string, ObjectId[]>();
  for (const { record, error } of outcome.retry) {
    if (!stillDeletable(record.created_at, input.now)) {
      input.logger.warn(
        { recordId: record._id.toHexString(), chatId: record.chat_id, createdAt: record.created_at, error },
        'giving up on a pending deletion: its messages are past the 48 hours Telegram allows for deleting',
      );
      result.failed += new Set(record.message_ids).size;
      outcome.remove.push(record._id);
    } else {
      retryByError.set(error, [...(retryByError.get(error) ?? []), record._id]);
      result.deferred += 1;
    }
  }
  // The batch's notices went out: until its records are gone, any later run (an attempt's retry, the
  // next slot, another instance) would send them again. A failing write (MongoDB restarting, a
  // failover) is retried until it lands, also for a short wind-down after the run was told to stop.
  const removal = windDown(input.signal, REMOVAL_WIND_DOWN_MS);
  try {
    await persist(() => deps.repos.pendingDeletions.removeByIds(outcome.remove), {
      patienceMs: 0,
      onStuck: (error) =>
        input.logger.warn(
          { err: error, records: outcome.remove.length },
          'could not remove a finished batch; retrying',
        ),
      signal: removal.signal,
      minDelayMs: 50,
      maxDelayMs: 1_000,
    });
  } finally {
    removal.dispose();
  }
  // One write per distinct error (usually one), each record keeping the error that stopped it.
  for (const [error, ids] of retryByError) await deps.repos.pendingDeletions.recordAttempt(ids, error);
  const newlyBlocked = await deps.repos.users.markBlockedByChat(outcome.unreachableChats, input.now);
  result.records += outcome.remove.length;
  await countDaily(
    { stats: deps.repos.stats, timezone: deps.timezone, logger: input.logger },
    input.clock(),
    {
      counts: {
        messages_deleted: result.messagesDeleted - before.messagesDeleted,
        deletions_failed: result.failed - before.failed,
        notices: result.notices - before.notices,
        users_blocked: newlyBlocked,
      },
    },
  );
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
  // A delivery cut short before its first message was sent leaves nothing to delete or announce.
  const empty = records.filter((record) => record.message_ids.length === 0);
  outcome.remove.push(...empty.map((record) => record._id));
  const withMessages = records.filter((record) => record.message_ids.length > 0);
  if (withMessages.length === 0) return [];
  const messageIds = withMessages.flatMap((record) => record.message_ids);
  const deletion = await deps.engine.deleteFromChat(chatId, messageIds, input.signal);
  // An abort is not a failure: nothing is known about these records, so they stay as they were.
  if (deletion.aborted) return [];
  if (deletion.transientError !== undefined) {
    const error = deletion.transientError;
    outcome.retry.push(...withMessages.map((record) => ({ record, error })));
    return [];
  }
  result.messagesDeleted += deletion.done;
  result.failed += deletion.refused;
  if (deletion.unreachable) {
    result.failed += new Set(messageIds).size - deletion.done - deletion.refused;
    outcome.unreachableChats.push(chatId);
    outcome.remove.push(...withMessages.map((record) => record._id));
    input.logger.info(
      { chatId },
      'chat gone (user deactivated or chat not found); its pending deletions end',
    );
    return [];
  }
  const refused = new Set(deletion.refusedIds);
  return withMessages.filter((record) => {
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
    // Aborted while waiting for its turn: nothing was sent; the next run sends it.
    if (input.signal.aborted) return;
    const kind = classifyTelegramError(error);
    if (kind === 'unreachable') {
      // Blocked or gone: the content is deleted, the notice cannot be delivered; the record is done.
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

/** A signal that aborts `graceMs` after `signal` does (or from now, if it already has). */
function windDown(signal: AbortSignal, graceMs: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setTimeout(() => controller.abort(signal.reason), graceMs);
    timer.unref();
  };
  if (signal.aborted) start();
  else signal.addEventListener('abort', start, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      signal.removeEventListener('abort', start);
      clearTimeout(timer);
    },
  };
}
