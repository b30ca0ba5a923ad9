import type { InlineKeyboardMarkup, Message, MessageEntity, PhotoSize } from 'grammy/types';
import {
  type BotIdentity,
  botUserJson,
  type ChatKind,
  chatJson,
  chatKindForId,
  defaultFirstName,
  type FakeUser,
  userJson,
} from './telegram-objects.js';

/** Fields most seeded messages never use, kept out of line so a million messages stay small. */
interface MessageExtras {
  entities?: MessageEntity[];
  replyMarkup?: InlineKeyboardMarkup;
  editDate?: number;
  copiedFrom?: { chatId: number; messageId: number };
  replyToMessageId?: number;
  hasProtectedContent?: boolean;
  /** A photo message (sendPhoto): its text is the caption. */
  photo?: PhotoSize;
}

/**
 * One message as the fake keeps it: a small class with plain fields rather than a Telegram JSON
 * object, because benchmarks seed millions of them; JSON is built only when someone asks.
 */
export class StoredMessage {
  /** Milliseconds on the injected clock; set once, when the message is deleted. */
  deletedAt: number | undefined = undefined;
  private extras: MessageExtras | undefined = undefined;

  constructor(
    readonly chatId: number,
    readonly messageId: number,
    /** Unix seconds, like Message.date. */
    readonly date: number,
    /** `undefined` means the bot sent it. */
    readonly sender: FakeUser | undefined,
    public text: string,
  ) {}

  get fromBot(): boolean {
    return this.sender === undefined;
  }

  get entities(): MessageEntity[] | undefined {
    return this.extras?.entities;
  }
  set entities(value: MessageEntity[] | undefined) {
    this.setExtra('entities', value !== undefined && value.length > 0 ? value : undefined);
  }

  get replyMarkup(): InlineKeyboardMarkup | undefined {
    return this.extras?.replyMarkup;
  }
  set replyMarkup(value: InlineKeyboardMarkup | undefined) {
    this.setExtra('replyMarkup', value);
  }

  get editDate(): number | undefined {
    return this.extras?.editDate;
  }
  set editDate(value: number | undefined) {
    this.setExtra('editDate', value);
  }

  get copiedFrom(): { chatId: number; messageId: number } | undefined {
    return this.extras?.copiedFrom;
  }
  set copiedFrom(value: { chatId: number; messageId: number } | undefined) {
    this.setExtra('copiedFrom', value);
  }

  get replyToMessageId(): number | undefined {
    return this.extras?.replyToMessageId;
  }
  set replyToMessageId(value: number | undefined) {
    this.setExtra('replyToMessageId', value);
  }

  get hasProtectedContent(): boolean {
    return this.extras?.hasProtectedContent === true;
  }
  set hasProtectedContent(value: boolean) {
    this.setExtra('hasProtectedContent', value ? true : undefined);
  }

  get photo(): PhotoSize | undefined {
    return this.extras?.photo;
  }
  set photo(value: PhotoSize | undefined) {
    this.setExtra('photo', value);
  }

  private setExtra<K extends keyof MessageExtras>(key: K, value: MessageExtras[K]): void {
    if (value === undefined) {
      if (this.extras !== undefined) delete this.extras[key];
      return;
    }
    this.extras ??= {};
    this.extras[key] = value;
  }
}

export interface ChatRecord {
  readonly id: number;
  kind: ChatKind;
  /** The other party of a private chat, as far as the fake knows them. */
  user: FakeUser | undefined;
  title: string | undefined;
  /** Dense: message_id N lives at index N - 1, deleted or not, because ids are never reused. */
  readonly messages: StoredMessage[];
  visibleCount: number;
  blocked: boolean;
  deactivated: boolean;
}

export interface NewMessage {
  sender: FakeUser | undefined;
  text: string;
  entities?: MessageEntity[];
  replyMarkup?: InlineKeyboardMarkup;
  date: number;
  replyToMessageId?: number;
  copiedFrom?: { chatId: number; messageId: number };
  hasProtectedContent?: boolean;
}

export interface MessageCounts {
  chats: number;
  visible: number;
  deleted: number;
}

export class ChatStore {
  private readonly chats = new Map<number, ChatRecord>();
  private visibleTotal = 0;
  private deletedTotal = 0;

  constructor(private readonly bot: BotIdentity) {}

  get(chatId: number): ChatRecord | undefined {
    return this.chats.get(chatId);
  }

  /** Registers a chat (idempotent); a known user's name is refreshed like Telegram does. */
  ensure(chatId: number, options: { user?: FakeUser; kind?: ChatKind; title?: string } = {}): ChatRecord {
    let chat = this.chats.get(chatId);
    if (chat === undefined) {
      chat = {
        id: chatId,
        kind: options.kind ?? chatKindForId(chatId),
        user: options.user,
        title: options.title,
        messages: [],
        visibleCount: 0,
        blocked: false,
        deactivated: false,
      };
      this.chats.set(chatId, chat);
      return chat;
    }
    if (options.user !== undefined) chat.user = options.user;
    if (options.title !== undefined) chat.title = options.title;
    return chat;
  }

  add(chat: ChatRecord, init: NewMessage): StoredMessage {
    const message = new StoredMessage(chat.id, chat.messages.length + 1, init.date, init.sender, init.text);
    message.entities = init.entities;
    message.replyMarkup = init.replyMarkup;
    message.replyToMessageId = init.replyToMessageId;
    message.copiedFrom = init.copiedFrom;
    message.hasProtectedContent = init.hasProtectedContent ?? false;
    chat.messages.push(message);
    chat.visibleCount++;
    this.visibleTotal++;
    return message;
  }

  /** A message that has not been deleted. */
  visibleMessage(chatId: number, messageId: number): StoredMessage | undefined {
    if (!Number.isInteger(messageId) || messageId <= 0) return undefined;
    const message = this.chats.get(chatId)?.messages[messageId - 1];
    return message === undefined || message.deletedAt !== undefined ? undefined : message;
  }

  markDeleted(message: StoredMessage, atMs: number): void {
    if (message.deletedAt !== undefined) return;
    message.deletedAt = atMs;
    const chat = this.chats.get(message.chatId);
    if (chat !== undefined) chat.visibleCount--;
    this.visibleTotal--;
    this.deletedTotal++;
  }

  visible(chatId: number): StoredMessage[] {
    return (this.chats.get(chatId)?.messages ?? []).filter((m) => m.deletedAt === undefined);
  }

  deleted(chatId: number): StoredMessage[] {
    return (this.chats.get(chatId)?.messages ?? [])
      .filter((m) => m.deletedAt !== undefined)
      .sort((a, b) => (a.deletedAt ?? 0) - (b.deletedAt ?? 0));
  }

  counts(chatId?: number): MessageCounts {
    if (chatId === undefined) {
      return { chats: this.chats.size, visible: this.visibleTotal, deleted: this.deletedTotal };
    }
    const chat = this.chats.get(chatId);
    if (chat === undefined) return { chats: 0, visible: 0, deleted: 0 };
    return { chats: 1, visible: chat.visibleCount, deleted: chat.messages.length - chat.visibleCount };
  }

  chatIds(): IterableIterator<number> {
    return this.chats.keys();
  }

  chatJson(chat: ChatRecord) {
    return chatJson(chat.id, chat.kind, chat.user, chat.title);
  }

  userOf(chat: ChatRecord): FakeUser {
    return chat.user ?? { id: chat.id, first_name: defaultFirstName(chat.id) };
  }

  /** The Message object Telegram would return for this message. */
  toJson(message: StoredMessage, withReply = true): Message {
    const chat = this.chats.get(message.chatId);
    const json: Record<string, unknown> = {
      message_id: message.messageId,
      from: message.sender === undefined ? botUserJson(this.bot) : userJson(message.sender),
      chat:
        chat === undefined
          ? chatJson(message.chatId, chatKindForId(message.chatId), undefined, undefined)
          : this.chatJson(chat),
      date: message.date,
    };
    if (message.editDate !== undefined) json.edit_date = message.editDate;
    if (message.hasProtectedContent) json.has_protected_content = true;
    if (withReply && message.replyToMessageId !== undefined) {
      const replied = this.visibleMessage(message.chatId, message.replyToMessageId);
      // Telegram nests one level only and omits the reply once the original is deleted.
      if (replied !== undefined) json.reply_to_message = this.toJson(replied, false);
    }
    if (message.photo !== undefined) {
      json.photo = [message.photo];
      if (message.text !== '') json.caption = message.text;
      if (message.entities !== undefined) json.caption_entities = message.entities;
    } else {
      json.text = message.text;
      if (message.entities !== undefined) json.entities = message.entities;
    }
    if (message.replyMarkup !== undefined) json.reply_markup = message.replyMarkup;
    return json as unknown as Message;
  }
}
