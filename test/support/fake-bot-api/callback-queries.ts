import type { FakeUser } from './telegram-objects.js';

/**
 * How long a callback query can be answered. Telegram does not document the limit; clients stop
 * waiting after about 15 seconds and late answers fail with "query is too old", so the fake refuses
 * answers later than this on its injected clock.
 */
export const DEFAULT_CALLBACK_ANSWER_WINDOW_MS = 15_000;

export interface CallbackQueryRecord {
  id: string;
  from: FakeUser;
  chatId: number;
  messageId: number;
  data: string;
  /** Milliseconds on the injected clock. */
  pressedAt: number;
  answer?: CallbackAnswer;
}

export interface CallbackAnswer {
  text?: string;
  showAlert: boolean;
  url?: string;
  cacheTime: number;
  /** Milliseconds on the injected clock. */
  answeredAt: number;
}

export class CallbackQueries {
  private readonly byId = new Map<string, CallbackQueryRecord>();
  private counter = 0n;

  constructor(private readonly botId: number) {}

  create(from: FakeUser, chatId: number, messageId: number, data: string, now: number): CallbackQueryRecord {
    // Telegram's ids are decimal int64s; the Bot API server parses them with to_integer<int64>.
    this.counter++;
    const id = (BigInt(this.botId) * 10_000_000_000n + this.counter).toString();
    const record: CallbackQueryRecord = { id, from, chatId, messageId, data, pressedAt: now };
    this.byId.set(id, record);
    return record;
  }

  get(id: string): CallbackQueryRecord | undefined {
    return this.byId.get(id);
  }

  answered(): CallbackQueryRecord[] {
    return [...this.byId.values()].filter((record) => record.answer !== undefined);
  }

  all(): CallbackQueryRecord[] {
    return [...this.byId.values()];
  }
}

/** Telegram gives every (bot, chat) pair a stable opaque chat_instance. */
export function chatInstanceFor(botId: number, chatId: number): string {
  return (BigInt(botId) * 1_000_003n + BigInt(chatId) * 7_919n).toString();
}
