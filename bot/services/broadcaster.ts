import type { Api } from 'grammy';
import { ObjectId } from 'mongodb';
import pMap from 'p-map';
import type { Logger } from 'pino';
import type { BroadcastCounts } from '../../db/collections.js';
import type { CancelRequest, StoredBroadcast } from '../../db/repositories/broadcasts.js';
import type { Repositories } from '../../db/repositories/index.js';
import { classifyTelegramError, describeTelegramError } from '../telegram/errors.js';
import type { FloodGate } from '../telegram/flood-gate.js';
import { type TransientRetryPolicy, withTransientRetry } from '../telegram/retry.js';
import { forGrammy } from '../telegram/signal.js';
import { formatTime } from './content.js';
import { countDaily, type StatsTarget } from './daily-stats.js';
import { DeliveryRecorder } from './delivery-recorder.js';
import { persist } from './persistent-write.js';

export interface BroadcasterOptions {
  /** The bulk lane: copies wait out flood control however long it lasts. */
  api: Api;
  /** Progress edits go around the flood gate, so the admin sees why sending waits; default `api`. */
  progressApi?: Api;
  /** Told about flood waits, to show them in the progress message. */
  gate?: FloodGate;
  repos: Repositories;
  logger: Logger;
  clock: () => Date;
  instanceId: string;
  timezone: string;
  batchSize: number;
  concurrency: number;
  retry: TransientRetryPolicy;
  /** Copies are sent with protect_content (no forwarding or saving). */
  protectContent: boolean;
  /**
   * The sender beats every quarter of this (more often at long leases, see `cancelCheckMs`); a
   * sending broadcast silent for this long lost its sender, and the sweep (every half of this, on
   * every instance) reports it.
   */
  leaseMs: number;
  /** At most one progress edit per this interval. */
  progressIntervalMs?: number;
  /** Database failures lasting this long stop the sending (default `leaseMs`). */
  databasePatienceMs?: number;
  /**
   * A cancel asked for on another instance reaches the sender through its heartbeat, so the
   * heartbeat runs at least this often, whatever the lease (default 2 s).
   */
  cancelCheckMs?: number;
}

export type CancelOutcome = CancelRequest | 'invalid-id';

export interface BroadcastRequest {
  adminId: number;
  adminChatId: number;
  sourceChatId: number;
  sourceMessageId: number;
  deleteAt: Date;
}

interface Sending {
  broadcastId: ObjectId;
  promise: Promise<void>;
  controller: AbortController;
  /** Aborted when a cancel is asked for: through this process at once, else by the heartbeat. */
  cancel: AbortController;
  /** Ends the retrying of pending writes: the last resort at shutdown. */
  writes: AbortController;
}

/**
 * Sends a broadcast to every reachable user in the background, so the bot keeps answering while a
 * large one goes out. Recipients are read page by page (never the whole user list); each copy is
 * recorded in `broadcast_messages` before its sender sends the next one, so the broadcast deleter
 * knows every copy but the few in flight; the admin watches one progress message.
 *
 * Nothing ends a broadcast silently. Flood waits pause it (however long); database failures are
 * retried, and when they last it stops sending, ends `interrupted` and tells the admin; a sender
 * that dies is found by the sweep every instance runs, and the admin is told once.
 */
export class Broadcaster {
  private readonly running = new Map<string, Sending>();
  /** Set by stop(): no broadcast begins sending after it, even one whose start was under way. */
  private stopped = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(private readonly options: BroadcasterOptions) {}

  private get progressApi(): Api {
    return this.options.progressApi ?? this.options.api;
  }

  private get statsTarget(): StatsTarget {
    return { stats: this.options.repos.stats, timezone: this.options.timezone, logger: this.options.logger };
  }

  async start(request: BroadcastRequest): Promise<{ broadcastId: ObjectId; total: number }> {
    const { repos, clock } = this.options;
    if (this.stopped) throw new BroadcasterStoppedError();
    const now = clock();
    const total = (await repos.users.counts()).active;
    const counts: BroadcastCounts = { total, delivered: 0, blocked: 0, failed: 0 };
    const progress = await this.progressApi.sendMessage(request.adminChatId, progressText(counts));
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
    });
    await countDaily(this.statsTarget, now, { counts: { broadcasts: 1 } });
    if (this.stopped) {
      // stop() came while this start was under way and did not wait for it: sending now would
      // outlive the process, leaving copies nobody recorded. Nothing was sent; say so.
      await repos.broadcasts.finish(broadcastId, this.options.instanceId, 'interrupted').catch(() => false);
      throw new BroadcasterStoppedError();
    }
    const controller = new AbortController();
    const cancel = new AbortController();
    const writes = new AbortController();
    const key = broadcastId.toHexString();
    const promise = this.send(
      broadcastId,
      request,
      counts,
      progress.message_id,
      controller.signal,
      cancel,
      writes.signal,
    )
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, broadcastId: key }, 'broadcast ended by an unexpected error'),
      )
      .finally(() => this.running.delete(key));
    this.running.set(key, { broadcastId, promise, controller, cancel, writes });
    return { broadcastId, total };
  }

  /**
   * Asks for a sending broadcast to stop, whichever instance sends it: the request is stored with
   * the broadcast, and its sender stops within a heartbeat (at once when it is this process),
   * lets the copies in flight finish and be recorded, ends it `cancelled` and tells the admin.
   * The copies delivered are deleted at the broadcast's time like any others.
   */
  async cancel(id: string, by: string): Promise<CancelOutcome> {
    // The id comes from outside (the dashboard): anything but 24 hex digits is refused here.
    if (!/^[0-9a-f]{24}$/i.test(id)) {
      this.options.logger.info(
        { broadcastId: id.slice(0, 64), by, outcome: 'invalid-id' },
        'broadcast cancel asked for',
      );
      return 'invalid-id';
    }
    const outcome = await this.options.repos.broadcasts.requestCancel(
      ObjectId.createFromHexString(id),
      by,
      this.options.clock(),
    );
    if (outcome === 'requested') this.running.get(id.toLowerCase())?.cancel.abort(new Error('cancelled'));
    this.options.logger.info({ broadcastId: id, by, outcome }, 'broadcast cancel asked for');
    return outcome;
  }

  /** Sweeps now and then every half lease, on every instance, for broadcasts whose sender died. */
  startSweeping(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(
      () => void this.sweepInterrupted(),
      Math.max(500, this.options.leaseMs / 2),
    );
    this.sweepTimer.unref();
    void this.sweepInterrupted();
  }

  /**
   * Reports broadcasts whose sender stopped beating for a lease (its process died mid-send, or
   * restarted). The takeover is one conditional update, so exactly one instance reports each.
   * Never rejects.
   */
  sweepInterrupted(): Promise<number> {
    this.sweeping ??= this.takeOverAll().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async takeOverAll(): Promise<number> {
    let recovered = 0;
    try {
      for (;;) {
        // Not the ones this process is sending: after a database outage longer than the lease
        // their heartbeats are stale, but their sender is right here and reports them itself.
        const stale = await this.options.repos.broadcasts.takeOverStale(
          this.options.leaseMs,
          this.sendingIds(),
        );
        if (!stale) return recovered;
        recovered += 1;
        this.options.logger.warn(
          { broadcastId: stale._id.toHexString(), counts: stale.counts, owner: stale.owner },
          'broadcast was cut short: its sender stopped',
        );
        await this.report(stale, interruptedText(stale.counts, stale.delete_at, this.options.timezone));
      }
    } catch (error) {
      this.options.logger.warn(
        { err: error },
        'could not look for interrupted broadcasts; trying again later',
      );
      return recovered;
    }
  }

  private sendingIds(): ObjectId[] {
    return [...this.running.values()].map((entry) => entry.broadcastId);
  }

  /**
   * Stops sending: broadcasts in progress end as interrupted and are reported. Waits for them up
   * to `timeoutMs`; writes still failing by then are given up and their copies logged.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const running = [...this.running.values()];
    for (const entry of running) entry.controller.abort(new Error('the bot is stopping'));
    const all = Promise.allSettled([...running.map((entry) => entry.promise), this.sweeping]);
    const settled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      void all.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (settled) return;
    for (const entry of running) entry.writes.abort(new Error('the bot is stopping'));
    await Promise.race([all, new Promise((resolve) => setImmediate(resolve))]);
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
    stopSignal: AbortSignal,
    cancel: AbortController,
    writesSignal: AbortSignal,
  ): Promise<void> {
    const { repos, clock, logger, instanceId } = this.options;
    const log = logger.child({ broadcastId: broadcastId.toHexString() });
    const patienceMs = this.options.databasePatienceMs ?? this.options.leaseMs;
    const takenOver = new AbortController();
    const databaseDown = new AbortController();
    const signal = AbortSignal.any([stopSignal, takenOver.signal, databaseDown.signal, cancel.signal]);
    let reported = false;
    const progress = (text: string) => this.editProgress(request.adminChatId, progressMessageId, text);
    const tellAdmin = async (text: string) => {
      if (reported) return;
      reported = true;
      await progress(progressText(counts));
      // The answer to the admin's command, like its progress message: on the interactive lane,
      // which needs no share of the bulk budget, so it goes out even while the database (and
      // with it the shared budget) is unreachable.
      await this.progressApi.sendMessage(request.adminChatId, text).catch((error: unknown) => {
        log.warn({ err: error }, 'could not report the broadcast result to the admin');
      });
    };
    const persistOptions = {
      patienceMs,
      onStuck: (error: unknown) => {
        if (databaseDown.signal.aborted) return;
        log.error({ err: error }, 'the database keeps failing; stopping the broadcast');
        databaseDown.abort(new Error('the database is unavailable'));
        void tellAdmin(databaseText(counts, request.deleteAt, this.options.timezone));
      },
      onRetry: (error: unknown, attempt: number) => {
        if (attempt === 1) log.warn({ err: error }, 'database write failed; retrying');
      },
    };
    const recorder = new DeliveryRecorder({
      broadcasts: repos.broadcasts,
      users: repos.users,
      broadcastId,
      clock,
      persist: persistOptions,
      signal: writesSignal,
      stats: this.statsTarget,
    });
    let beating = false;
    let heartbeatFailing = false;
    const heartbeat = setInterval(
      () => {
        // One at a time: against a database that does not answer, beats would pile up.
        if (beating) return;
        beating = true;
        repos.broadcasts
          .heartbeat(broadcastId, instanceId)
          .then((answer) => {
            heartbeatFailing = false;
            if (answer === 'cancel-requested') {
              cancel.abort(new Error('cancelled'));
              return;
            }
            if (answer !== 'lost' || takenOver.signal.aborted) return;
            log.error(
              'another instance declared this broadcast interrupted (this process stalled?); stopping',
            );
            takenOver.abort(new Error('declared interrupted elsewhere'));
          })
          .catch((error: unknown) => {
            // Beats come every few seconds: one line per outage, not one per beat.
            if (!heartbeatFailing) log.warn({ err: error }, 'broadcast heartbeat failed');
            heartbeatFailing = true;
          })
          .finally(() => {
            beating = false;
          });
      },
      // A quarter lease keeps the broadcast alive; the cancel check wants it more often than
      // that at long leases (a quarter of 60 s is too long to wait for a cancel to take effect).
      Math.max(250, Math.min(this.options.leaseMs / 4, this.options.cancelCheckMs ?? 2_000)),
    );
    heartbeat.unref();
    const unwatchFloods = this.options.gate?.onClose((wait) => {
      void progress(waitingText(counts, wait.retryAfterSeconds));
    });

    let expired = false;
    // Every recipient was handled (or the deletion time came): a cancel arriving after that cut
    // nothing short, and the broadcast ends `sent`.
    let reachedEnd = false;
    try {
      let afterId: ObjectId | undefined;
      let lastProgressAt = 0;
      while (!signal.aborted) {
        if (clock().getTime() >= request.deleteAt.getTime()) {
          // Past its deletion time a copy would be deleted at once; stop sending.
          expired = true;
          reachedEnd = true;
          break;
        }
        // A fresh query per page: a cursor held open for an hour-long broadcast would time out.
        const page = await persist(
          () =>
            repos.users
              .reachableRecipients(this.options.batchSize, afterId)
              .limit(this.options.batchSize)
              .toArray(),
          { ...persistOptions, signal },
        ).catch(() => undefined);
        if (page === undefined) break; // stopped while the database kept failing
        if (page.length === 0) {
          reachedEnd = true;
          break;
        }
        afterId = page.at(-1)?._id;
        await pMap(
          page,
          async (user) => {
            const outcome = await this.copyTo(user.chat_id, request, signal);
            if (outcome.kind === 'delivered') {
              counts.delivered += 1;
              await recorder.delivered({
                chat_id: user.chat_id,
                message_id: outcome.messageId,
                sent_at: clock(),
              });
            } else if (outcome.kind === 'blocked') {
              counts.blocked += 1;
              await recorder.blocked(user.chat_id);
            } else if (outcome.kind === 'failed') {
              counts.failed += 1;
              await recorder.failed();
            }
          },
          { concurrency: this.options.concurrency },
        );
        if (Date.now() - lastProgressAt >= (this.options.progressIntervalMs ?? 3_000)) {
          lastProgressAt = Date.now();
          await progress(progressText(counts));
        }
      }
      await recorder.drain();
    } finally {
      clearInterval(heartbeat);
      unwatchFloods?.();
    }
    if (recorder.lostCopies.length > 0) {
      log.error(
        { copies: recorder.lostCopies },
        'copies sent but never recorded (the database was down until shutdown); delete them by hand',
      );
    }

    const cancelled = cancel.signal.aborted && !reachedEnd;
    const interrupted = stopSignal.aborted || databaseDown.signal.aborted;
    if (takenOver.signal.aborted) return; // the instance that took it over has told the admin
    const finished = await persist(
      () =>
        repos.broadcasts.finish(
          broadcastId,
          instanceId,
          cancelled ? 'cancelled' : interrupted ? 'interrupted' : 'sent',
        ),
      { ...persistOptions, onStuck: () => {}, signal: writesSignal },
      // Not written before shutdown: the broadcast still says `sending`, and the sweep of the next
      // instance to look reports it then.
    ).catch(() => false);
    log.info({ counts, interrupted, cancelled, expired }, 'broadcast sending ended');
    if (!finished) return;
    await tellAdmin(
      databaseDown.signal.aborted
        ? databaseText(counts, request.deleteAt, this.options.timezone)
        : cancelled
          ? cancelledText(counts, request.deleteAt, this.options.timezone)
          : interrupted
            ? interruptedText(counts, request.deleteAt, this.options.timezone)
            : finishedText(counts, request.deleteAt, this.options.timezone, expired),
    );
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
      // The signal ends waits for a turn or for flood control; once on the wire the call is not
      // cancelled (see bot/telegram/api.ts), so a copy that was sent is never lost track of.
      const copy = await withTransientRetry(
        () =>
          this.options.api.copyMessage(
            chatId,
            request.sourceChatId,
            request.sourceMessageId,
            { protect_content: this.options.protectContent },
            forGrammy(signal),
          ),
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
      await this.progressApi.editMessageText(chatId, messageId, text);
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

export class BroadcasterStoppedError extends Error {
  override readonly name = 'BroadcasterStoppedError';
  constructor() {
    super('the bot is stopping; no broadcast starts now');
  }
}

function progressText(counts: BroadcastCounts): string {
  const done = counts.delivered + counts.blocked + counts.failed;
  return `📣 Broadcasting: ${done}/${counts.total} (delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed})`;
}

function waitingText(counts: BroadcastCounts, seconds: number): string {
  return `${progressText(counts)}\n⏳ Telegram asked the bot to slow down: waiting ${seconds} s, then sending goes on.`;
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
    '📣 Broadcast interrupted: the bot stopped or restarted while sending.',
    `Delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed} (of ${counts.total} users); the rest were not sent.`,
    `The delivered copies will still be deleted at ${formatTime(deleteAt, timezone)}.`,
  ].join('\n');
}

function cancelledText(counts: BroadcastCounts, deleteAt: Date, timezone: string): string {
  return [
    '📣 Broadcast cancelled: sending stopped on request.',
    `Delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed} (of ${counts.total} users); the rest were not sent.`,
    `The delivered copies will still be deleted at ${formatTime(deleteAt, timezone)}.`,
  ].join('\n');
}

function databaseText(counts: BroadcastCounts, deleteAt: Date, timezone: string): string {
  return [
    '📣 Broadcast stopped: the database is unavailable, so no more copies are sent.',
    `Delivered ${counts.delivered}, blocked ${counts.blocked}, failed ${counts.failed} (of ${counts.total} users); the rest were not sent.`,
    `The delivered copies are recorded as soon as the database is back and will be deleted at ${formatTime(deleteAt, timezone)}.`,
  ].join('\n');
}
