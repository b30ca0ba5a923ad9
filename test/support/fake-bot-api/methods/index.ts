import { answerCallbackQuery } from './callbacks.js';
import { deleteMyCommands, getMyCommands, setMyCommands } from './commands.js';
import type { MethodHandler } from './context.js';
import { deleteMessage, deleteMessages } from './deletion.js';
import {
  copyMessage,
  editMessageReplyMarkup,
  editMessageText,
  sendChatAction,
  sendDocument,
  sendMessage,
} from './messages.js';
import { sendPhoto } from './photos.js';
import { deleteWebhook, getMe, getUpdates, getWebhookInfo, setWebhook } from './updates.js';

export type {
  FakeBotState,
  MethodContext,
  MethodHandler,
  SentDocument,
  UnknownChatPolicy,
} from './context.js';
export { ResultWithDescription } from './context.js';

/** The Bot API methods the fake implements, under their canonical names. */
export const METHODS: Readonly<Record<string, MethodHandler>> = {
  getMe,
  getUpdates,
  setWebhook,
  deleteWebhook,
  getWebhookInfo,
  sendMessage,
  sendDocument,
  copyMessage,
  editMessageText,
  editMessageReplyMarkup,
  deleteMessage,
  deleteMessages,
  answerCallbackQuery,
  setMyCommands,
  getMyCommands,
  deleteMyCommands,
  sendChatAction,
  sendPhoto,
};

const BY_LOWERCASE_NAME = new Map(Object.keys(METHODS).map((name) => [name.toLowerCase(), name]));

/** Telegram matches method names case-insensitively; returns the canonical name. */
export function canonicalMethodName(name: string): string | undefined {
  return BY_LOWERCASE_NAME.get(name.toLowerCase());
}
