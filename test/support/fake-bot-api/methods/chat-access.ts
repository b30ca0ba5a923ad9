import { BotApiError, DESCRIPTIONS } from '../api-error.js';
import type { ChatRecord } from '../chat-store.js';
import { toInteger } from '../request-params.js';
import type { FakeBotState } from './context.js';

/**
 * check_chat of the Bot API server: an empty chat_id, an unknown id or a @username the fake cannot
 * resolve are refused the way Telegram refuses them; writing to a deleted account is 403.
 */
export function resolveChat(state: FakeBotState, chatIdText: string, access: 'read' | 'write'): ChatRecord {
  if (chatIdText === '') throw new BotApiError(400, DESCRIPTIONS.chatIdEmpty);
  // Private chats have no public @username a bot could address; the fake simulates no channels.
  const chatId = chatIdText.startsWith('@') ? 0 : toInteger(chatIdText);
  let chat = chatId === 0 ? undefined : state.store.get(chatId);
  if (chat === undefined && chatId > 0 && state.unknownChats === 'register')
    chat = state.store.ensure(chatId);
  if (chat === undefined) throw new BotApiError(400, DESCRIPTIONS.chatNotFound);
  if (access === 'write' && chat.deactivated) throw new BotApiError(403, DESCRIPTIONS.userDeactivated);
  return chat;
}

/** Telegram's server refuses to deliver to a user who blocked the bot (USER_IS_BLOCKED). */
export function assertNotBlocked(chat: ChatRecord): void {
  if (chat.blocked) throw new BotApiError(403, DESCRIPTIONS.botBlocked);
}
