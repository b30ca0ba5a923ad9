/**
 * A fake Telegram Bot API for tests and benchmarks: a real HTTP server on 127.0.0.1 that grammY
 * reaches through `new Bot(token, { client: { apiRoot: fake.apiRoot } })` and that answers with the
 * Bot API's result types, error codes and descriptions.
 */
export { BotApiError, DESCRIPTIONS } from './api-error.js';
export type { CallRecord, CallStats } from './call-log.js';
export type { CallbackAnswer, CallbackQueryRecord } from './callback-queries.js';
export type { MessageCounts } from './chat-store.js';
export {
  type BulkSeedChat,
  type ChatView,
  DEFAULT_BOT,
  DEFAULT_TOKEN,
  type DeletedMessage,
  FakeBotApi,
  type FakeBotApiOptions,
  type InspectedMessage,
  type SeedOptions,
  startFakeBotApi,
} from './fake-bot-api.js';
export type { FaultSpec, PendingFault } from './faults.js';
export { MAX_MESSAGE_TEXT_LENGTH } from './message-text.js';
export { DELETE_WINDOW_SECONDS } from './methods/deletion.js';
export type { SentDocument, UnknownChatPolicy } from './methods/index.js';
export { DEFAULT_PER_CHAT_METHODS, type RateLimits } from './rate-limiter.js';
export { MAX_CALLBACK_DATA_BYTES } from './reply-markup.js';
export type { ButtonPressInput, UserMessageInput } from './simulated-users.js';
export type { BotIdentity, FakeUser } from './telegram-objects.js';
