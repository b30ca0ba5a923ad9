export interface RateLimits {
  /** Calls per sliding second over all counted methods (see `globalMethods`). */
  globalPerSecond?: number;
  /** Sustained calls per second into one chat, for `perChatMethods`: the rate a chat's burst refills. */
  perChatPerSecond?: number;
  /** Calls one chat may make at once before `perChatPerSecond` applies; default 3. */
  perChatBurst?: number;
  /** Methods limited per chat; default: the sending methods. */
  perChatMethods?: string[];
  /** Methods counted by the global limit; default: every method except update/bot-info plumbing. */
  globalMethods?: string[];
}

export const DEFAULT_PER_CHAT_METHODS = [
  'sendMessage',
  'copyMessage',
  'copyMessages',
  'forwardMessage',
  'forwardMessages',
  'sendPhoto',
  'sendDocument',
  'sendMediaGroup',
];

/** getUpdates long polls and startup calls are not what Telegram's flood control counts. */
const NOT_GLOBALLY_COUNTED = new Set(['getUpdates', 'getMe', 'getWebhookInfo', 'deleteWebhook']);

const WINDOW_MS = 1000;

/**
 * Telegram's FAQ asks for about one message per second per chat but allows short bursts, so a bot
 * answering a user with a few messages in a row is not refused.
 */
export const DEFAULT_PER_CHAT_BURST = 3;

/** Absorbs floating-point drift in refills at rates like 1/30 s, so a full token is never 0.999…. */
const TOKEN_EPSILON = 1e-9;

/** Timestamps of accepted calls inside the current one-second window. */
class SlidingWindow {
  private times: number[] = [];
  private head = 0;

  /** Seconds until a slot frees (≥ 1), or 0 when the call fits and has been counted. */
  admit(now: number, limit: number): number {
    this.prune(now);
    if (this.times.length - this.head >= limit) {
      const oldest = this.times[this.head] as number;
      return Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
    }
    this.times.push(now);
    return 0;
  }

  undoLast(): void {
    this.times.pop();
  }

  private prune(now: number): void {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/** One chat's allowance: up to `burst` calls at once, refilled at `perSecond` calls per second. */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** Seconds until a token is back (≥ 1), or 0 when the call had a token and has taken it. */
  admit(now: number, perSecond: number, burst: number): number {
    this.refill(now, perSecond, burst);
    if (this.tokens >= 1 - TOKEN_EPSILON) {
      this.tokens = Math.max(0, this.tokens - 1);
      return 0;
    }
    const secondsToToken = (1 - this.tokens) / perSecond;
    return Math.max(1, Math.ceil(secondsToToken - TOKEN_EPSILON));
  }

  /** True when the bucket is full again, so forgetting it changes nothing. */
  idle(now: number, perSecond: number, burst: number): boolean {
    this.refill(now, perSecond, burst);
    return this.tokens >= burst - TOKEN_EPSILON;
  }

  private refill(now: number, perSecond: number, burst: number): void {
    // max(0, …): a test may set the injected clock back.
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(burst, this.tokens + (elapsedMs * perSecond) / 1000);
    this.updatedAt = now;
  }
}

/**
 * Telegram-style flood control on the injected clock: a call over a limit is answered 429 with
 * `retry_after` and, like on Telegram, does not itself count. The global limit is a sliding
 * one-second window; the per-chat limit a token bucket, because Telegram allows short bursts.
 */
export class RateLimiter {
  private limits: RateLimits = {};
  private perChatMethods = new Set(DEFAULT_PER_CHAT_METHODS);
  private globalMethods: Set<string> | undefined;
  private global = new SlidingWindow();
  private perChat = new Map<number, TokenBucket>();
  private checksSinceSweep = 0;

  set(limits: RateLimits): void {
    assertValid(limits);
    this.limits = { ...this.limits, ...limits };
    if (limits.perChatMethods !== undefined) this.perChatMethods = new Set(limits.perChatMethods);
    if (limits.globalMethods !== undefined) this.globalMethods = new Set(limits.globalMethods);
  }

  /** The limits in force, with the default burst spelled out when a per-chat limit is set. */
  current(): RateLimits {
    return {
      ...this.limits,
      ...(this.limits.perChatPerSecond === undefined ? {} : { perChatBurst: this.burst() }),
      perChatMethods: [...this.perChatMethods],
      ...(this.globalMethods === undefined ? {} : { globalMethods: [...this.globalMethods] }),
    };
  }

  reset(): void {
    this.global = new SlidingWindow();
    this.perChat.clear();
  }

  /** Returns retry_after seconds when the call must be refused; otherwise counts it. */
  check(method: string, chatId: number | undefined, now: number): number | undefined {
    const { globalPerSecond, perChatPerSecond } = this.limits;
    const countsGlobally =
      globalPerSecond !== undefined &&
      (this.globalMethods === undefined ? !NOT_GLOBALLY_COUNTED.has(method) : this.globalMethods.has(method));
    const countsPerChat =
      perChatPerSecond !== undefined && chatId !== undefined && this.perChatMethods.has(method);
    if (!countsGlobally && !countsPerChat) return undefined;

    const globalWait = countsGlobally ? this.global.admit(now, globalPerSecond) : 0;
    if (globalWait > 0) return globalWait;
    const chatWait = countsPerChat ? this.admitToChat(chatId, perChatPerSecond, now) : 0;
    if (chatWait > 0) {
      // A refused call must leave no trace, so the global slot it took is given back.
      if (countsGlobally) this.global.undoLast();
      return chatWait;
    }
    return undefined;
  }

  private admitToChat(chatId: number, perSecond: number, now: number): number {
    this.sweepIdleChats(perSecond, now);
    let bucket = this.perChat.get(chatId);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.burst(), now);
      this.perChat.set(chatId, bucket);
    }
    return bucket.admit(now, perSecond, this.burst());
  }

  private burst(): number {
    return this.limits.perChatBurst ?? DEFAULT_PER_CHAT_BURST;
  }

  /** Keeps the per-chat map from growing with every chat a benchmark ever touched. */
  private sweepIdleChats(perSecond: number, now: number): void {
    if (++this.checksSinceSweep < 10_000) return;
    this.checksSinceSweep = 0;
    const burst = this.burst();
    for (const [chatId, bucket] of this.perChat) {
      if (bucket.idle(now, perSecond, burst)) this.perChat.delete(chatId);
    }
  }
}

/** A rate of 0 or a burst below one call would refuse every call forever, which Telegram never does. */
function assertValid(limits: RateLimits): void {
  for (const key of ['globalPerSecond', 'perChatPerSecond'] as const) {
    const value = limits[key];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`${key} must be a positive number`);
    }
  }
  const burst = limits.perChatBurst;
  if (burst !== undefined && !(Number.isInteger(burst) && burst >= 1)) {
    throw new RangeError('perChatBurst must be a whole number of at least 1');
  }
}
