import type { RateSharesRepository } from '../../db/repositories/rate-shares.js';
import type { BulkAllowance, BulkShare } from './priority-window.js';

/**
 * One bulk rate budget per bot token, however many instances share it. Every instance with bulk
 * work announces itself in `rate_shares` about once per `refreshMs`, stamped with the database
 * server's clock, counts the members alive, and sends at most `maxPerSecond / members`.
 *
 * Membership changes are sound in the direction that matters, never letting the sum go over:
 * - A newcomer (or one back from idle or from a database outage) sends nothing until one refresh
 *   period, plus the one-second window and a margin, after its announcement was written: by then
 *   every other member has counted it and lowered its share, and the calls they made at their old
 *   share have left Telegram's window.
 * - A member that stops (idle, stopped, dead) is counted until its stamp lapses (`memberTtlMs`);
 *   only then do the others raise their share. It stays a member while idle, so new work within
 *   that time starts at once.
 * - A member that cannot stamp itself stops bulk sending `memberTtlMs - window - margin` after its
 *   last stamp was sent, before anyone can count it dead, and joins afresh once the database
 *   answers again.
 *
 * Local durations are measured on this host's monotonic clock; only the database compares times
 * across hosts. Cost: two round trips (upsert, count) per `refreshMs` while busy, none when idle.
 */
export interface SharedRateBudgetOptions {
  shares: Pick<RateSharesRepository, 'beat'>;
  instanceId: string;
  /** The bot token's overall budget for bulk calls (TELEGRAM_MAX_RPS). */
  maxPerSecond: number;
  /** How often a busy member stamps itself and recounts; default 1,000 ms. */
  refreshMs?: number;
  /** How long a stamp counts as alive; default 5,000 ms. Must exceed 2 × refresh + window + margin. */
  memberTtlMs?: number;
  /** A member with no bulk call for this long stops stamping; default 3,000 ms. */
  idleAfterMs?: number;
  /** Room for a slow round trip and timer lateness; default 250 ms. */
  safetyMarginMs?: number;
  /** Telegram's rate window; default 1,000 ms. */
  windowMs?: number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /** For logs and tests. */
  onEvent?: (event: RateBudgetEvent) => void;
}

export type RateBudgetEvent =
  /** Announced; bulk may go out from `sendingFrom` (local ms). */
  | { type: 'joined'; at: number; sendingFrom: number }
  /** A stamp sent at `sentAt` was written; `members` alive, this one included. */
  | { type: 'counted'; at: number; sentAt: number; members: number; allowance: BulkAllowance }
  | { type: 'beat-failed'; at: number; error: unknown }
  | { type: 'idle'; at: number };

export class SharedRateBudget implements BulkShare {
  private readonly refreshMs: number;
  private readonly memberTtlMs: number;
  private readonly idleAfterMs: number;
  private readonly windowMs: number;
  private readonly joinDelayMs: number;
  private readonly stopAfterMs: number;
  private readonly now: () => number;
  private readonly subscribers = new Set<{ changed(): void; waiting(): number }>();
  private members = 1;
  private lastDemandAt = Number.NEGATIVE_INFINITY;
  /** When the last stamp that the database took was sent (local ms). */
  private lastBeatSentAt = Number.NEGATIVE_INFINITY;
  private sendingFrom = Number.POSITIVE_INFINITY;
  private running = false;
  private closed = false;
  private loopTimer: { timer: NodeJS.Timeout; resolve(): void } | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SharedRateBudgetOptions) {
    this.refreshMs = options.refreshMs ?? 1_000;
    this.memberTtlMs = options.memberTtlMs ?? 5_000;
    this.idleAfterMs = options.idleAfterMs ?? 3_000;
    this.windowMs = options.windowMs ?? 1_000;
    const margin = options.safetyMarginMs ?? 250;
    this.joinDelayMs = this.refreshMs + this.windowMs + margin;
    this.stopAfterMs = this.memberTtlMs - this.windowMs - margin;
    if (this.stopAfterMs <= this.refreshMs) {
      throw new Error(
        `memberTtlMs (${this.memberTtlMs}) must exceed 2 × refreshMs + windowMs + safetyMarginMs (${2 * this.refreshMs + this.windowMs + margin})`,
      );
    }
    this.now = options.now ?? (() => performance.now());
  }

  allowance(): BulkAllowance {
    const now = this.now();
    if (now < this.sendingFrom || now >= this.lastBeatSentAt + this.stopAfterMs) {
      return { limit: 0, intervalMs: this.windowMs };
    }
    return shareOf(this.options.maxPerSecond, this.members, this.windowMs);
  }

  noteDemand(): void {
    this.lastDemandAt = this.now();
    this.startLoop();
  }

  subscribe(subscriber: { changed(): void; waiting(): number }): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  /** Stops stamping; the stamp lapses on its own, so the others take the share over only then. */
  close(): void {
    this.closed = true;
    this.sendingFrom = Number.POSITIVE_INFINITY;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.loopTimer) {
      clearTimeout(this.loopTimer.timer);
      this.loopTimer.resolve();
    }
    this.changed();
  }

  private startLoop(): void {
    if (this.running || this.closed) return;
    this.running = true;
    void this.loop();
  }

  private busy(): boolean {
    if (this.now() - this.lastDemandAt <= this.idleAfterMs) return true;
    for (const subscriber of this.subscribers) if (subscriber.waiting() > 0) return true;
    return false;
  }

  private async loop(): Promise<void> {
    while (!this.closed && this.busy()) {
      const sentAt = this.now();
      await this.refresh(sentAt);
      const wait = sentAt + this.refreshMs - this.now();
      // A plain (ref'd) timer: queued bulk calls must keep the process alive until they are sent.
      if (wait > 0 && !this.closed) {
        await new Promise<void>((resolve) => {
          this.loopTimer = { timer: setTimeout(resolve, wait), resolve };
        });
        this.loopTimer = undefined;
      }
    }
    this.running = false;
    if (!this.closed) this.options.onEvent?.({ type: 'idle', at: this.now() });
  }

  private async refresh(sentAt: number): Promise<void> {
    let members: number;
    try {
      members = await this.options.shares.beat(this.options.instanceId, this.memberTtlMs);
    } catch (error) {
      this.options.onEvent?.({ type: 'beat-failed', at: this.now(), error });
      return;
    }
    if (this.closed) return;
    const receivedAt = this.now();
    // Stopped at some point since the last stamp (or never a member): the others may have
    // counted this instance out and raised their shares, so it joins as a newcomer.
    if (receivedAt >= this.lastBeatSentAt + this.stopAfterMs) {
      this.sendingFrom = receivedAt + this.joinDelayMs;
      this.options.onEvent?.({ type: 'joined', at: receivedAt, sendingFrom: this.sendingFrom });
    }
    this.lastBeatSentAt = sentAt;
    this.members = Math.max(1, members);
    this.options.onEvent?.({
      type: 'counted',
      at: receivedAt,
      sentAt,
      members: this.members,
      allowance: this.allowance(),
    });
    this.changed();
    this.scheduleWake(receivedAt);
  }

  /** The allowance also changes with time alone: at the end of a join wait and at the stop deadline. */
  private scheduleWake(now: number): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    const next = [this.sendingFrom, this.lastBeatSentAt + this.stopAfterMs].filter((at) => at > now);
    if (next.length === 0) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.changed();
        this.scheduleWake(this.now());
      },
      Math.min(...next) - now + 1,
    );
    this.wakeTimer.unref();
  }

  private changed(): void {
    for (const subscriber of this.subscribers) subscriber.changed();
  }
}

/**
 * `maxPerSecond / members`, rounded down so the members' shares never add up to more. With more
 * members than calls per second, each gets one call per proportionally longer interval: the
 * average stays within the budget, though single seconds may not.
 */
export function shareOf(maxPerSecond: number, members: number, windowMs: number): BulkAllowance {
  if (members <= maxPerSecond) return { limit: Math.floor(maxPerSecond / members), intervalMs: windowMs };
  return { limit: 1, intervalMs: Math.ceil((windowMs * members) / maxPerSecond) };
}
