import type { Transformer } from 'grammy';
import { type BulkShare, PriorityWindow } from './priority-window.js';

/**
 * Keeps the bot under Telegram's limits before Telegram has to say so: at most `maxPerSecond`
 * calls overall (Telegram allows about 30) and, for background work, at most `perChatPerSecond`
 * messages sent into any one chat (Telegram asks for about one). Long polling is exempt: it is
 * one call held open.
 */
export interface RateLimitOptions {
  maxPerSecond: number;
  perChatPerSecond: number;
  /**
   * This instance's share of the bot token's bulk budget across instances (see
   * shared-rate-budget.ts); without it, bulk may use the whole of `maxPerSecond`.
   */
  bulkShare?: BulkShare;
}

/**
 * One limiter per process with two entrances. `interactive` (replies to a user's own update) only
 * takes a slot of the overall window, ahead of any bulk call waiting: Telegram lets a chat take a
 * short burst, and the verify flow's three messages should not take three seconds. `bulk`
 * (deletions, notices, broadcasts, alerts) is spaced per chat and held to the bulk share.
 */
export interface RateLimiter {
  interactive: Transformer;
  bulk: Transformer;
}

const SENDING_METHOD = /^(send|copy|forward)/;
const EXEMPT_METHODS = new Set(['getUpdates']);

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const window = new PriorityWindow({
    limit: options.maxPerSecond,
    ...(options.bulkShare ? { bulkShare: options.bulkShare } : {}),
  });
  const perChat = new ChatSpacing(options.perChatPerSecond);

  const interactive: Transformer = async (prev, method, payload, grammySignal) => {
    if (EXEMPT_METHODS.has(method)) return prev(method, payload, grammySignal);
    await window.acquire('interactive', grammySignal as AbortSignal | undefined);
    return prev(method, payload, grammySignal);
  };

  const bulk: Transformer = async (prev, method, payload, grammySignal) => {
    if (EXEMPT_METHODS.has(method)) return prev(method, payload, grammySignal);
    // grammY types its signal with a polyfill's interface; at runtime it is the platform's.
    const signal = grammySignal as AbortSignal | undefined;
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
    const perChatTurn =
      SENDING_METHOD.test(method) && (typeof chatId === 'number' || typeof chatId === 'string')
        ? await perChat.take(chatId, signal)
        : undefined;
    try {
      await window.acquire('bulk', signal);
    } catch (error) {
      perChatTurn?.release(false);
      throw error;
    }
    try {
      return await prev(method, payload, grammySignal);
    } finally {
      // Counted from the answer: the request reached Telegram at the latest by then.
      perChatTurn?.release(true);
    }
  };

  return { interactive, bulk };
}

interface Turn {
  /** Called when the call is answered (`sent`), or abandoned before it went out. */
  release(sent: boolean): void;
}

/**
 * Spaces messages into one chat from the moment Telegram answered the previous one, not from when
 * it joined the queue: a message that waited for a global slot or sat in a busy connection would
 * otherwise arrive too close to the next one. Sends into a chat go one at a time; entries vanish once a chat is idle, so memory
 * follows the chats being written to right now, not the number of users.
 */
class ChatSpacing {
  private readonly chats = new Map<
    string | number,
    { lastSentAt: number; tail: Promise<void>; waiting: number }
  >();
  private readonly gapMs: number;

  constructor(perSecond: number) {
    // A few milliseconds of margin: clocks have millisecond resolution, and a gap of exactly one
    // interval sits on the edge of Telegram's window.
    this.gapMs = Math.ceil(1_000 / perSecond) + 20;
  }

  async take(chatId: string | number, signal: AbortSignal | undefined): Promise<Turn> {
    let entry = this.chats.get(chatId);
    if (!entry) {
      entry = { lastSentAt: Number.NEGATIVE_INFINITY, tail: Promise.resolve(), waiting: 0 };
      this.chats.set(chatId, entry);
    }
    const chat = entry;
    const previous = chat.tail;
    let releaseTail!: () => void;
    chat.tail = new Promise<void>((resolve) => {
      releaseTail = resolve;
    });
    chat.waiting += 1;
    const release = (sent: boolean) => {
      if (sent) chat.lastSentAt = Date.now();
      chat.waiting -= 1;
      releaseTail();
      if (chat.waiting === 0) {
        // Forget the chat once its interval has passed with nobody waiting.
        setTimeout(() => {
          if (chat.waiting === 0 && this.chats.get(chatId) === chat) this.chats.delete(chatId);
        }, this.gapMs).unref();
      }
    };
    try {
      await abortable(previous, signal);
      const wait = chat.lastSentAt + this.gapMs - Date.now();
      if (wait > 0) await abortable(delay(wait), signal);
    } catch (error) {
      // Let the queue move on without us; our turn never sent anything.
      void previous.then(() => release(false));
      throw error;
    }
    return { release };
  }

  get size(): number {
    return this.chats.size;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waiting for a slot ends early when the caller gives up (a stopping job). */
function abortable(wait: Promise<unknown>, signal: AbortSignal | undefined): Promise<unknown> {
  if (!signal) return wait;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    wait.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
