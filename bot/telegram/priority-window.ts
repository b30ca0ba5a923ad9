/**
 * The process's share of Telegram's overall limit, as a strict sliding window: no interval of
 * `intervalMs` ever holds more than `limit` calls. Two lanes wait for slots: a user's reply
 * (interactive) always goes before queued background work (bulk), so a reply never sits behind a
 * broadcast; bulk calls are further held to the bulk allowance of the moment (this instance's
 * share of the bot's budget, which may be zero while it joins or has lost the database).
 */
export type Lane = 'interactive' | 'bulk';

/** How many bulk calls may go out per `intervalMs` right now; `limit` 0 holds them all. */
export interface BulkAllowance {
  limit: number;
  intervalMs: number;
}

/** Where the bulk allowance comes from (see shared-rate-budget.ts); told about bulk demand. */
export interface BulkShare {
  allowance(): BulkAllowance;
  /** A bulk call wants a slot: the share should be (or stay) held. */
  noteDemand(): void;
  /**
   * `changed` is called whenever the allowance may have changed; `waiting` tells how many bulk
   * calls wait (demand that outlasts the share, e.g. while the database is away). Returns the
   * unsubscribe.
   */
  subscribe(subscriber: { changed(): void; waiting(): number }): () => void;
}

export interface PriorityWindowOptions {
  /** Calls per window for both lanes together. */
  limit: number;
  /** Default 1,000 ms plus `jitterMarginMs`. */
  intervalMs?: number;
  /**
   * Added to the interval: a slot is granted a little before the request reaches Telegram, and
   * requests granted exactly one interval apart may arrive closer than that. Default 10 ms.
   */
  jitterMarginMs?: number;
  /** Default: bulk may use the whole window. */
  bulkShare?: BulkShare;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
}

interface Waiter {
  grant(): void;
}

export class PriorityWindow {
  private readonly limit: number;
  private readonly intervalMs: number;
  private readonly jitterMarginMs: number;
  private readonly now: () => number;
  private readonly bulkShare: BulkShare | undefined;
  /** Grant times of both lanes within the last interval, oldest first. */
  private readonly grants: number[] = [];
  /** Grant times of bulk calls, kept as long as the longest bulk interval asks. */
  private readonly bulkGrants: number[] = [];
  /** When the next bulk call is due on an even pace (see bulkReadyAt). */
  private bulkDueAt = Number.NEGATIVE_INFINITY;
  private readonly queues: Record<Lane, Waiter[]> = { interactive: [], bulk: [] };
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(options: PriorityWindowOptions) {
    if (!(options.limit >= 1)) throw new Error(`limit must be at least 1, got ${options.limit}`);
    this.limit = Math.floor(options.limit);
    this.jitterMarginMs = options.jitterMarginMs ?? 10;
    this.intervalMs = (options.intervalMs ?? 1_000) + this.jitterMarginMs;
    this.now = options.now ?? (() => performance.now());
    this.bulkShare = options.bulkShare;
    this.unsubscribe = this.bulkShare?.subscribe({
      changed: () => this.pump(),
      waiting: () => this.queues.bulk.length,
    });
  }

  /** Resolves when the call may go out; rejects with the signal's reason if it aborts first. */
  acquire(lane: Lane, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (lane === 'bulk') this.bulkShare?.noteDemand();
    return new Promise<void>((resolve, reject) => {
      const queue = this.queues[lane];
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        reject(signal?.reason);
        // A bulk call that gave up may have been what held an interactive one's turn order.
        this.pump();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.pump();
    });
  }

  /** Calls waiting for a slot, per lane (for tests and metrics). */
  get waiting(): Record<Lane, number> {
    return { interactive: this.queues.interactive.length, bulk: this.queues.bulk.length };
  }

  /** Stops listening to the bulk share; waiters already queued stay queued. */
  close(): void {
    this.unsubscribe?.();
    this.clearTimer();
  }

  private pump(): void {
    const now = this.now();
    const allowance = this.bulkAllowance();
    forgetBefore(this.grants, now - this.intervalMs);
    forgetBefore(this.bulkGrants, now - Math.max(this.intervalMs, allowance.intervalMs));
    while (this.grants.length < this.limit) {
      const interactive = this.queues.interactive.shift();
      if (interactive) {
        this.grants.push(now);
        interactive.grant();
        continue;
      }
      if (this.queues.bulk.length === 0 || this.bulkReadyAt(now, allowance) > now) break;
      this.grants.push(now);
      this.bulkGrants.push(now);
      this.bulkDueAt = Math.max(this.bulkDueAt, now) + allowance.intervalMs / allowance.limit;
      this.queues.bulk.shift()?.grant();
    }
    this.scheduleNext(now, allowance);
  }

  private bulkAllowance(): BulkAllowance {
    const share = this.bulkShare?.allowance();
    if (!share) return { limit: this.limit, intervalMs: this.intervalMs };
    return { limit: Math.floor(share.limit), intervalMs: share.intervalMs + this.jitterMarginMs };
  }

  /**
   * When the next bulk call may go: within the window, and on an even pace of `limit` calls per
   * interval with bursts of at most a tenth of it. A window filled in one burst and then empty
   * lets a burst's slow answers and the next burst's fast ones fall into one second at
   * Telegram's end (several instances make it worse); paced calls can only bunch by the jitter.
   */
  private bulkReadyAt(now: number, allowance: BulkAllowance): number {
    if (allowance.limit <= 0) return Number.POSITIVE_INFINITY;
    let readyAt = now;
    const inWindow = this.bulkInWindow(now, allowance);
    if (inWindow >= allowance.limit) {
      readyAt = (this.bulkGrants[this.bulkGrants.length - inWindow] as number) + allowance.intervalMs;
    }
    const spacing = allowance.intervalMs / allowance.limit;
    const burst = Math.max(1, Math.ceil(allowance.limit / 10));
    return Math.max(readyAt, this.bulkDueAt - spacing * (burst - 1));
  }

  private bulkInWindow(now: number, allowance: BulkAllowance): number {
    const since = now - allowance.intervalMs;
    let count = 0;
    for (let i = this.bulkGrants.length - 1; i >= 0 && (this.bulkGrants[i] as number) > since; i--) count++;
    return count;
  }

  /** Wakes up when the oldest grant that blocks a waiter leaves its window. */
  private scheduleNext(now: number, allowance: BulkAllowance): void {
    let wakeAt = Number.POSITIVE_INFINITY;
    const hasInteractive = this.queues.interactive.length > 0;
    const hasBulk = this.queues.bulk.length > 0;
    if ((hasInteractive || hasBulk) && this.grants.length >= this.limit) {
      wakeAt = (this.grants[0] as number) + this.intervalMs;
    } else if (hasBulk && allowance.limit > 0) {
      const readyAt = this.bulkReadyAt(now, allowance);
      if (readyAt > now) wakeAt = readyAt;
    }
    // A zero allowance has no time to wake at: the share says when it changes.
    if (wakeAt === this.timerAt) return;
    this.clearTimer();
    if (wakeAt === Number.POSITIVE_INFINITY) return;
    this.timerAt = wakeAt;
    // One extra millisecond: timers may fire a little early relative to performance.now().
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, wakeAt - now) + 1,
    );
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}

function forgetBefore(times: number[], cutoff: number): void {
  let stale = 0;
  while (stale < times.length && (times[stale] as number) <= cutoff) stale++;
  if (stale > 0) times.splice(0, stale);
}
