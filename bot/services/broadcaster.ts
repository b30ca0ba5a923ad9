import type { Api } from 'grammy';
import type { ObjectId } from 'mongodb';
import pMap from 'p-map';
import type { BroadcastCounts } from '../../db/collections.js';
import type { StoredBroadcast } from '../../db/repositories/broadcasts.js';
import type { Repositories } from '../../db/repositories/index.js';
import type { Logger } from '../../src/logger.js';
import { classifyTelegramError, describeTelegramError } from '../telegram/errors.js';
import { type TransientRetryPolicy, withTransientRetry } from '../telegram/retry.js';
import { formatTime } from './content.js';

export interface BroadcasterOptions {
  api: Api;
  repos: Repositories;
  logger: Logger;
  clock: () => Date;
  instanceId: string;
  timezone: string;
  batchSize: number;
  concurrency: number;
  retry: TransientRetryPolicy;
  /** A sending broadcast whose heartbeat is older than this was cut short by a dead process. */
  staleAfterMs?: number;
  /** At most one progress edit per this interval. */
  progressIntervalMs?: number;
}

/** Copies recorded per database write while sending. */
const RECORD_EVERY = 20;

export interface BroadcastRequest {
  adminId: number;
  adminChatId: number;
  sourceChatId: number;
  sourceMessageId: number;
  deleteAt: Date;
}

/**
 * Sends a broadcast to every reachable user in the background, so the bot keeps answering while
 * a large one goes out. Recipients are read page by page (never the whole user list), each copy
 * is recorded in `broadcast_messages` for the broadcast deleter, and the admin watches one
 * progress message. A broadcast cut short (stop, crash) is reported with its counts.
 */
export class Broadcaster {
  private readonly running = new Map<string, { promise: Promise<void>; controller: AbortController }>();
  private readonly staleAfterMs: number;

  constructor(private readonly options: BroadcasterOptions) {
    this.staleAfterMs = options.staleAfterMs ?? 2 * 60_000;
  }

  async start(request: BroadcastRequest): Promise<{ broadcastId: ObjectId; total: number }> {
    const { repos, api, clock } = this.options;
    const now = clock();
    const total = (await repos.users.counts()).active;
    const counts: BroadcastCounts = { total, delivered: 0, blocked: 0, failed: 0 };
    const progress = await api.sendMessage(request.adminChatId, progressText(counts));
    const broadcastId = await repos.broadcasts.create({
      delete_at: request.deleteAt,
      created_at: now,
      created_by: request.adminId,
      source_chat_id: request.sourceChatId,
      source_message_id: request.sourceMessageId,
      status: 'sending',
      counts,
      progress_chat_id: request.adminChatId,
      progress_message_id: progress.message_id,
      owner: this.options.instanceId,
      heartbeat_at: now,
    });
    const controller = new AbortController();
    const key = broadcastId.toHexString();
    const promise = this.send(broadcastId, request, counts, progress.message_id, controller.signal)
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, broadcastId: key }, 'broadcast failed'),
      )
      .finally(() => this.running.delete(key));
    this.running.set(key, { promise, controller });
    return { broadcastId, total };
  }

  /** Reports broadcasts whose sender died mid-send (call at start-up). */
  async recoverInterrupted(): Promise<number> {
    const now = this.options.clock();
    let recovered = 0;
    for (;;) {
      const stale = await this.options.repos.broadcasts.takeOverStale(
        new Date(now.getTime() - this.staleAfterMs),
        now,
      );
      if (!stale) return recovered;
      recovered += 1;
      this.options.logger.warn(
        { broadcastId: stale._id.toHexString(), counts: stale.counts },
        'broadcast was cut short',
      );
      await this.report(stale, interruptedText(stale.counts, stale.delete_at, this.options.timezone));
    }
  }

  /** Stops sending; broadcasts in progress end as interrupted and are reported. */
  async stop(timeoutMs: number): Promise<void> {
    const running = [...this.running.values()];
    for (const entry of running) entry.controller.abort(new Error('the bot is stopping'));
    if (running.length === 0) return;
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([Promise.allSettled(running.map((entry) => entry.promise)), timeout]);
  }

  /** Resolves when no broadcast is being sent by this process (tests). */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0)
      await Promise.allSettled([...this.running.values()].map((entry) => entry.promise));
  }

  private async send(
    broadcastId: ObjectId,
    request: BroadcastRequest,
    counts: BroadcastCounts,
    progressMessageId: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { repos, clock, logger } = this.options;
    let afterId: ObjectId | undefined;
    let lastProgressAt = 0;
    let expired = false;
    while (!signal.aborted) {
      if (clock().getTime() >= request.deleteAt.getTime()) {
        // Past its deletion time a copy would be deleted at once; stop sending.
        expired = true;
        break;
      }
      // A fresh query per page: a cursor held open for an hour-long broadcast would time out.
      const page = await repos.users
        .reachableRecipients(this.options.batchSize, afterId)
        .limit(this.options.batchSize)
        .toArray();
      if (page.length === 0) break;
      afterId = page.at(-1)?._id;
      // Deliveries are recorded every few copies rather than once per page: a crash can then
      // leave at most a handful of copies unrecorded (and so never deleted).
      const pending: { chat_id: number; message_id: number }[] = [];
      const blockedChats: number[] = [];
      let failed = 0;
      const flush = async () => {
        const copies = pending.splice(0);
        await repos.broadcasts.recordDeliveries(broadcastId, copies);
        await repos.broadcasts.addCounts(broadcastId, { delivered: copies.length });
        counts.delivered += copies.length;
      };
      await pMap(
        page,
        async (user) => {
          const outcome = await this.copyTo(user.chat_id, request, signal);
          if (outcome.kind === 'delivered') {
            pending.push({ chat_id: user.chat_id, message_id: outcome.messageId });
            if (pending.length >= RECORD_EVERY) await flush();
          } else if (outcome.kind === 'blocked') {
            blockedChats.push(user.chat_id);
          } else if (outcome.kind === 'failed') {
            failed += 1;
          }
        },
        { concurrency: this.options.concurrency },
      );
      await flush();
      await repos.broadcasts.addCounts(broadcastId, { blocked: blockedChats.length, failed });
      await repos.users.markBlockedByChat(blockedChats, clock());
      await repos.broadcasts.heartbeat(broadcastId, clock());
      counts.blocked += blockedChats.length;
      counts.failed += failed;
      if (Date.now() - lastProgressAt >= (this.options.progressIntervalMs ?? 3_000)) {
        lastProgressAt = Date.now();
        await this.editProgress(request.adminChatId, progressMessageId, progressText(counts));
      }
    }

    const interrupted = signal.aborted;
    await repos.broadcasts.setStatus(broadcastId, interrupted ? 'interrupted' : 'sent', clock());
    logger.info(
      { broadcastId: broadcastId.toHexString(), counts, interrupted, expired },
      'broadcast sending ended',
    );
    await this.editProgress(request.adminChatId, progressMessageId, progressText(counts));
    const text = interrupted
      ? interruptedText(counts, request.deleteAt, this.options.timezone)
      : finishedText(counts, request.deleteAt, this.options.timezone, expired);
    await this.options.api.sendMessage(request.adminChatId, text).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not report the broadcast result to the admin');
    });
  }

  private async copyTo(
    chatId: number,
    request: BroadcastRequest,
    signal: AbortSignal,
  ): Promise<
    { kind: 'delivered'; messageId: number } | { kind: 'blocked' } | { kind: 'failed' } | { kind: 'skipped' }
  > {
    if (signal.aborted) return { kind: 'skipped' };
    try {
      // No abort signal on the call itself: a copy cancelled in flight may still have been sent,
      // and a copy we do not know about is a copy nobody will delete.
      const copy = await withTransientRetry(
        () => this.options.api.copyMessage(chatId, request.sourceChatId, request.sourceMessageId),
        this.options.retry,
        signal,
      );
      return { kind: 'delivered', messageId: copy.message_id };
    } catch (error) {
      if (signal.aborted) return { kind: 'skipped' };
      if (classifyTelegramError(error) === 'unreachable') return { kind: 'blocked' };
      this.options.logger.debug({ chatId, answer: describeTelegramError(error) }, 'broadcast copy failed');
      return { kind: 'failed' };
    }
  }

  private async editProgress(chatId: number, messageId: number, text: string): Promise<void> {
    try {
      await this.options.api.editMessageText(chatId, messageId, text);
    } catch (error) {
      // "message is not modified" and a deleted progress message are both fine to ignore.
      this.options.logger.debug({ answer: describeTelegramError(error) }, 'progress message not updated');
    }
  }

  private async report(broadcast: StoredBroadcast, text: string): Promise<void> {
    try {
      await this.options.api.sendMessage(broadcast.progress_chat_id ?? broadcast.created_by, text);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not report the interrupted broadcast');
    }
  }
}

function progressText(counts: BroadcastCounts): string {
  const done = counts.delivered + counts.blocked + counts.failed;
  return `📣 Broadcasting: ${done}/${counts.total} (delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed})`;
}

function finishedText(counts: BroadcastCounts, deleteAt: Date, timezone: string, expired: boolean): string {
  return [
    expired ? '📣 Broadcast stopped at its deletion time.' : '📣 Broadcast finished.',
    `Delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed} (of ${counts.total} users).`,
    `The copies will be deleted at ${formatTime(deleteAt, timezone)}.`,
  ].join('\n');
}

function interruptedText(counts: BroadcastCounts, deleteAt: Date, timezone: string): string {
  return [
    '📣 Broadcast interrupted by a restart.',
    `Delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed} (of ${counts.total} users); the rest were not sent.`,
    `The delivered copies will still be deleted at ${formatTime(deleteAt, timezone)}.`,
  ].join('\n');
}
