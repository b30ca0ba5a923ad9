import type { ChatMemberUpdated, InlineKeyboardButton, Message } from 'grammy/types';
import { chatInstanceFor } from './callback-queries.js';
import { userText } from './message-text.js';
import { type FakeBotState, nowSeconds } from './methods/context.js';
import { botUserJson, type FakeUser, userJson } from './telegram-objects.js';
import type { UpdatePayload } from './update-queue.js';

export interface UserMessageInput {
  from: FakeUser;
  text: string;
  /** Defaults to the private chat with `from`. */
  chatId?: number;
  /** message_id of a message in the same chat being replied to. */
  replyTo?: number;
}

export interface ButtonPressInput {
  from: FakeUser;
  /** Defaults to the private chat with `from`. */
  chatId?: number;
  messageId: number;
  /** The callback_data of the button pressed. */
  data: string;
  /**
   * Send `data` even though no button of the message carries it, as a stale button from an older
   * version of a message or a modified client would: for tests of the bot's input validation.
   */
  forged?: boolean;
}

function registerSender(state: FakeBotState, from: FakeUser, chatId: number) {
  const chat = state.store.ensure(chatId, chatId === from.id ? { user: from } : {});
  if (chat.blocked) throw new Error(`user ${from.id} blocked the bot; call unblockBot(${from.id}) first`);
  if (chat.deactivated) throw new Error(`user ${from.id} is deactivated and cannot write`);
  return chat;
}

/** What a user typing into Telegram produces: a stored message and a `message` update. */
export function sendUserMessage(state: FakeBotState, input: UserMessageInput): Message {
  const chatId = input.chatId ?? input.from.id;
  const chat = registerSender(state, input.from, chatId);
  if (input.replyTo !== undefined && state.store.visibleMessage(chatId, input.replyTo) === undefined) {
    throw new Error(`cannot reply to message ${input.replyTo}: it is not visible in chat ${chatId}`);
  }
  const text = userText(input.text);
  const stored = state.store.add(chat, {
    sender: input.from,
    text: text.text,
    entities: text.entities,
    date: nowSeconds(state),
    ...(input.replyTo === undefined ? {} : { replyToMessageId: input.replyTo }),
  });
  const message = state.store.toJson(stored);
  // toJson built a private-chat message; the Update type wants that spelled out.
  state.updates.push({ message } as UpdatePayload);
  return message;
}

/**
 * A tap on an inline button. Throws (in the test, not over HTTP) when the message or the button is
 * not there, because a user cannot press a button they cannot see.
 */
export function pressButton(state: FakeBotState, input: ButtonPressInput): string {
  const chatId = input.chatId ?? input.from.id;
  registerSender(state, input.from, chatId);
  const message = state.store.visibleMessage(chatId, input.messageId);
  if (message === undefined) {
    throw new Error(`cannot press a button: message ${input.messageId} is not visible in chat ${chatId}`);
  }
  const buttons: InlineKeyboardButton[] = message.replyMarkup?.inline_keyboard.flat() ?? [];
  const forged = input.forged === true;
  if (
    !forged &&
    !buttons.some((button) => 'callback_data' in button && button.callback_data === input.data)
  ) {
    const offered = buttons.flatMap((button) => ('callback_data' in button ? [button.callback_data] : []));
    throw new Error(
      `message ${input.messageId} in chat ${chatId} has no button with callback_data ${JSON.stringify(input.data)} ` +
        `(buttons: ${JSON.stringify(offered)})`,
    );
  }
  const query = state.callbacks.create(input.from, chatId, input.messageId, input.data, state.nowMs());
  state.updates.push({
    callback_query: {
      id: query.id,
      from: userJson(input.from),
      message: state.store.toJson(message),
      chat_instance: chatInstanceFor(state.bot.id, chatId),
      data: input.data,
    },
  });
  return query.id;
}

/**
 * Blocking or unblocking the bot in a private chat; each change queues the `my_chat_member`
 * update Telegram sends (member → kicked, and back).
 */
export function setBotBlocked(state: FakeBotState, userId: number, blocked: boolean): void {
  const chat = state.store.ensure(userId);
  if (chat.blocked === blocked) return;
  chat.blocked = blocked;
  const bot = botUserJson(state.bot);
  const member = { user: bot, status: 'member' as const };
  const kicked = { user: bot, status: 'kicked' as const, until_date: 0 };
  const update: ChatMemberUpdated = {
    chat: state.store.chatJson(chat),
    from: userJson(state.store.userOf(chat)),
    date: nowSeconds(state),
    old_chat_member: blocked ? member : kicked,
    new_chat_member: blocked ? kicked : member,
  };
  state.updates.push({ my_chat_member: update });
}
