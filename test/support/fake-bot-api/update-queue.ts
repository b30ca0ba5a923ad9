import type { Update } from 'grammy/types';
import { BotApiError, DESCRIPTIONS } from './api-error.js';

/** Update kinds Telegram delivers when allowed_updates is empty or was never set. */
const OPT_IN_UPDATE_TYPES = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

/** Telegram keeps undelivered updates for 24 hours. */
export const UPDATE_RETENTION_MS = 24 * 60 * 60 * 1000;

export type UpdatePayload = Omit<Update, 'update_id'>;

interface QueuedUpdate {
  update: Update;
  createdAt: number;
}

interface PendingPoll {
  offset: number;
  limit: number;
  resolve: (updates: Update[]) => void;
  reject: (error: BotApiError) => void;
  timer: NodeJS.Timeout;
  wakeScheduled: boolean;
}

/**
 * The bot's update queue with getUpdates' semantics from telegram-bot-api's do_get_updates:
 * an offset confirms (forgets) every earlier update, a negative offset keeps only the last |offset|
 * updates, a long poll waits until an update arrives and a newer long poll terminates the older one
 * with 409 (the older request gets the Conflict, the newer one waits).
 */
export class UpdateQueue {
  private updates: QueuedUpdate[] = [];
  private nextUpdateId = 1;
  /** `undefined` = Telegram's default set (everything except the opt-in kinds). */
  private allowed: Set<string> | undefined;
  private poll: PendingPoll | undefined;
  private closed = false;

  constructor(private readonly now: () => number) {}

  /** Queues an update unless the bot's allowed_updates exclude its kind (Telegram drops those). */
  push(payload: UpdatePayload): Update | undefined {
    const kind = Object.keys(payload)[0] ?? '';
    const allowed = this.allowed === undefined ? !OPT_IN_UPDATE_TYPES.has(kind) : this.allowed.has(kind);
    if (!allowed) return undefined;
    const update = { update_id: this.nextUpdateId++, ...payload } as Update;
    this.updates.push({ update, createdAt: this.now() });
    this.scheduleWake();
    return update;
  }

  /** allowed_updates is remembered between calls; an empty list restores the default. */
  setAllowedUpdates(json: unknown): void {
    if (!Array.isArray(json)) return;
    const kinds = json.filter((kind): kind is string => typeof kind === 'string');
    this.allowed = kinds.length === 0 ? undefined : new Set(kinds);
  }

  /** Whether a getUpdates call is waiting for updates right now. */
  get polling(): boolean {
    return this.poll !== undefined;
  }

  pendingCount(): number {
    this.expire();
    return this.updates.length;
  }

  clear(): void {
    this.updates = [];
  }

  /** Answers a getUpdates call; resolves at once when updates are waiting or `timeoutSeconds` is 0. */
  getUpdates(offset: number, limit: number, timeoutSeconds: number, signal: AbortSignal): Promise<Update[]> {
    const ready = this.take(offset, limit);
    if (ready.length > 0 || timeoutSeconds === 0 || this.closed) return Promise.resolve(ready);
    this.terminatePoll();
    return new Promise<Update[]>((resolve, reject) => {
      const finish = () => {
        if (this.poll !== poll) return;
        this.poll = undefined;
        clearTimeout(poll.timer);
        signal.removeEventListener('abort', finish);
        resolve(this.take(poll.offset, poll.limit));
      };
      const poll: PendingPoll = {
        offset,
        limit,
        resolve: (updates) => {
          signal.removeEventListener('abort', finish);
          resolve(updates);
        },
        reject: (error) => {
          signal.removeEventListener('abort', finish);
          reject(error);
        },
        timer: setTimeout(finish, timeoutSeconds * 1000),
        wakeScheduled: false,
      };
      this.poll = poll;
      // A client that went away (grammY's bot.stop aborts its fetch) must not block the next poll.
      signal.addEventListener('abort', finish, { once: true });
      if (signal.aborted) finish();
    });
  }

  /** The kinds set with allowed_updates, or undefined for Telegram's default set. */
  allowedUpdates(): string[] | undefined {
    return this.allowed === undefined ? undefined : [...this.allowed];
  }

  /**
   * Takes every waiting update and forgets it, as a webhook delivery that got 2xx does; the test
   * then posts them to the bot, playing Telegram's side of the webhook.
   */
  drain(): Update[] {
    this.expire();
    const updates = this.updates.map((queued) => queued.update);
    this.updates = [];
    return updates;
  }

  /** Ends a waiting long poll with 409 (setWebhook does this to a poll in progress). */
  abortPoll(description: string): void {
    const poll = this.poll;
    if (poll === undefined) return;
    this.poll = undefined;
    clearTimeout(poll.timer);
    poll.reject(new BotApiError(409, description));
  }

  /** Ends a waiting long poll with an empty result (used when the server stops). */
  close(): void {
    this.closed = true;
    const poll = this.poll;
    if (poll === undefined) return;
    this.poll = undefined;
    clearTimeout(poll.timer);
    poll.resolve([]);
  }

  private terminatePoll(): void {
    const poll = this.poll;
    if (poll === undefined) return;
    this.poll = undefined;
    clearTimeout(poll.timer);
    poll.reject(new BotApiError(409, DESCRIPTIONS.getUpdatesConflict));
  }

  private scheduleWake(): void {
    const poll = this.poll;
    if (poll === undefined || poll.wakeScheduled) return;
    poll.wakeScheduled = true;
    // Deferred so that updates queued in the same tick travel in one answer, as on Telegram.
    setImmediate(() => {
      if (this.poll !== poll) return;
      const updates = this.take(poll.offset, poll.limit);
      if (updates.length === 0) {
        poll.wakeScheduled = false;
        return;
      }
      this.poll = undefined;
      clearTimeout(poll.timer);
      poll.resolve(updates);
    });
  }

  private take(offset: number, limit: number): Update[] {
    this.expire();
    if (offset < 0) {
      this.updates = this.updates.slice(Math.max(0, this.updates.length + offset));
    } else if (offset > 0 && offset <= this.nextUpdateId) {
      // An offset beyond the newest update id is invalid for TQueue and reads from the head instead.
      const firstKept = this.updates.findIndex((queued) => queued.update.update_id >= offset);
      this.updates = firstKept === -1 ? [] : this.updates.slice(firstKept);
    }
    return this.updates.slice(0, limit).map((queued) => queued.update);
  }

  private expire(): void {
    const oldest = this.now() - UPDATE_RETENTION_MS;
    const firstFresh = this.updates.findIndex((queued) => queued.createdAt > oldest);
    if (firstFresh !== 0) this.updates = firstFresh === -1 ? [] : this.updates.slice(firstFresh);
  }
}
