import { BotApiError, DESCRIPTIONS, tdlibError } from '../api-error.js';
import type { StoredMessage } from '../chat-store.js';
import type { Params } from '../request-params.js';
import { resolveChat } from './chat-access.js';
import { type FakeBotState, type MethodContext, nowSeconds } from './context.js';

/** Bots may delete (revoke) a message in a private chat only within 48 hours of sending. */
export const DELETE_WINDOW_SECONDS = 48 * 60 * 60;
const MAX_DELETE_MESSAGES = 100;

function tooOldToDelete(state: FakeBotState, message: StoredMessage): boolean {
  return message.date + DELETE_WINDOW_SECONDS <= nowSeconds(state);
}

export function deleteMessage({ state, params }: MethodContext): true {
  const chatIdText = params.str('chat_id');
  const messageId = params.messageId();
  if (chatIdText === '') throw new BotApiError(400, DESCRIPTIONS.chatIdentifierNotSpecified);
  if (messageId === 0) throw new BotApiError(400, DESCRIPTIONS.messageIdentifierNotSpecified);
  // No block check: USER_IS_BLOCKED comes from sending; deleting in a blocked chat works on Telegram.
  const chat = resolveChat(state, chatIdText, 'write');
  const message = state.store.visibleMessage(chat.id, messageId);
  if (message === undefined) throw new BotApiError(400, DESCRIPTIONS.messageToDeleteNotFound);
  if (tooOldToDelete(state, message))
    throw new BotApiError(400, DESCRIPTIONS.messageCantBeDeletedForEveryone);
  state.store.markDeleted(message, state.nowMs());
  return true;
}

/**
 * deleteMessages is documented as "If some of the specified messages can't be found, they are
 * skipped". Telegram does not document a batch mixing deletable messages with ones past the 48-hour
 * window; the fake follows TDLib, which checks every found message before deleting any: one message
 * too old fails the whole call with the single-message error and nothing is deleted.
 */
export function deleteMessages({ state, params }: MethodContext): true {
  const messageIds = parseMessageIds(params);
  if (messageIds.length === 0) throw new BotApiError(400, DESCRIPTIONS.messageIdentifiersNotSpecified);
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  const found = [...new Set(messageIds)]
    .map((id) => state.store.visibleMessage(chat.id, id))
    .filter((message): message is StoredMessage => message !== undefined);
  if (found.some((message) => tooOldToDelete(state, message))) {
    throw new BotApiError(400, DESCRIPTIONS.messageCantBeDeletedForEveryone);
  }
  const now = state.nowMs();
  for (const message of found) state.store.markDeleted(message, now);
  return true;
}

/** get_message_ids of the Bot API server, with its error texts. */
function parseMessageIds(params: Params): number[] {
  const field = params.json('message_ids');
  if (!field.present) throw new BotApiError(400, DESCRIPTIONS.messageIdentifiersNotSpecified);
  if ('invalid' in field) throw tdlibError("Can't parse message_ids JSON object");
  if (!Array.isArray(field.value)) throw tdlibError('Expected an Array of message identifiers');
  if (field.value.length > MAX_DELETE_MESSAGES)
    throw new BotApiError(400, DESCRIPTIONS.tooManyMessageIdentifiers);
  return field.value.map((item: unknown) => {
    if (typeof item !== 'number' && typeof item !== 'string')
      throw tdlibError('Message identifier must be a Number');
    const text = String(item);
    if (!/^-?\d+$/.test(text) || Math.abs(Number(text)) > 2 ** 31 - 1) {
      throw tdlibError("Can't parse message identifier as Number");
    }
    const id = Number(text);
    if (id <= 0) throw tdlibError('Invalid message identifier specified');
    return id;
  });
}
