export interface RateLimits {
  /** Calls per sliding second over all counted methods (see `globalMethods`). */
  globalPerSecond?: number;
  /** Calls per sliding second into one chat, for `perChatMethods`. */
  perChatPerSecond?: number;
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

  /** True when no counted call is inside the window any more. */
  idle(now: number): boolean {
    this.prune(now);
    return this.head >= this.times.length;
  }

  private prune(now: number): void {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Telegram-style flood control on the injected clock: a call over a limit is answered 429 with
 * `retry_after` and, like on Telegram, does not itself count toward the window.
 */
export class RateLimiter {
  private limits: RateLimits = {};
  private perChatMethods = new Set(DEFAULT_PER_CHAT_METHODS);
  private globalMethods: Set<string> | undefined;
  private global = new SlidingWindow();
  private perChat = new Map<number, SlidingWindow>();
  private checksSinceSweep = 0;

  set(limits: RateLimits): void {
    this.limits = { ...this.limits, ...limits };
    if (limits.perChatMethods !== undefined) this.perChatMethods = new Set(limits.perChatMethods);
    if (limits.globalMethods !== undefined) this.globalMethods = new Set(limits.globalMethods);
  }

  current(): RateLimits {
    return {
      ...this.limits,
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

    let chatWindow: SlidingWindow | undefined;
    if (countsPerChat) {
      this.sweepIdleChats(now);
      chatWindow = this.perChat.get(chatId);
      if (chatWindow === undefined) {
        chatWindow = new SlidingWindow();
        this.perChat.set(chatId, chatWindow);
      }
    }
    // A refused call must leave no trace, so a global slot taken before the chat refusal is returned.
    const probeGlobal = countsGlobally ? this.global.admit(now, globalPerSecond) : 0;
    if (probeGlobal > 0) return probeGlobal;
    const probeChat =
      chatWindow !== undefined && perChatPerSecond !== undefined
        ? chatWindow.admit(now, perChatPerSecond)
        : 0;
    if (probeChat > 0) {
      if (countsGlobally) this.global.undoLast();
      return probeChat;
    }
    return undefined;
  }

  /** Keeps the per-chat map from growing with every chat a benchmark ever touched. */
  private sweepIdleChats(now: number): void {
    if (++this.checksSinceSweep < 10_000) return;
    this.checksSinceSweep = 0;
    for (const [chatId, window] of this.perChat) if (window.idle(now)) this.perChat.delete(chatId);
  }
}
