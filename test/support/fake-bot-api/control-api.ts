import type { BulkSeedChat, FakeBotApi } from './fake-bot-api.js';
import type { FaultSpec } from './faults.js';
import type { HttpReply } from './http-layer.js';
import type { RateLimits } from './rate-limiter.js';
import type { FakeUser } from './telegram-objects.js';

/**
 * JSON endpoints under /__control that let another process (a benchmark, the CLI's parent) drive
 * the fake: seed chats in bulk, read call statistics, set limits and faults, count what is left.
 *
 *   GET    /health
 *   POST   /seed            { chats: [{ chatId, count, date? }] }
 *                           or { chatRange: { firstChatId, chatCount, messagesPerChat, date? } }
 *   POST   /chats           { chatIds: number[] }                    register chats without messages
 *   GET    /stats           call counts per method and status, 429s, retry_after total, per-second rates
 *   POST   /stats/reset
 *   POST   /rate-limits     { globalPerSecond?, perChatPerSecond?, perChatBurst?, perChatMethods?,
 *                             globalMethods? }   an invalid limit answers 400
 *   GET    /faults | POST /faults { method?, chatId?, times?, status, description?, retryAfter? } | DELETE /faults
 *   POST   /latency         { method, ms }
 *   POST   /methods/disable { method }   and   POST /methods/enable { method }
 *   GET    /messages[?chatId=N[&ids=1]]  visible/deleted counts overall or for one chat (with ids)
 *   POST   /users/message   { from, text, chatId?, replyTo? }
 *   POST   /users/messages  { messages: [{ from, text, chatId?, replyTo? }] }   many at once (one answer)
 *   GET    /updates         { pending, longPolling }: queued updates and whether a getUpdates waits
 *   GET    /calls[?from=N]  recorded calls from index N on (needs --record-calls): time, method,
 *                           chatId, status, and the text of sendMessage; `next` is the index to ask next
 *   POST   /users/block | /users/unblock | /users/deactivate   { userId }
 *
 * `times: "Infinity"` (or null) makes a fault permanent, since JSON has no Infinity.
 */
export function createControlApi(api: FakeBotApi) {
  return async (method: string, path: string, search: URLSearchParams, body: unknown): Promise<HttpReply> => {
    try {
      const result = route(api, `${method} ${path}`, search, (body ?? {}) as Record<string, unknown>);
      return result === undefined
        ? { status: 404, body: { ok: false, error: `no control endpoint ${method} ${path}` } }
        : { status: 200, body: { ok: true, ...result } };
    } catch (error) {
      return {
        status: 400,
        body: { ok: false, error: error instanceof Error ? error.message : String(error) },
      };
    }
  };
}

function route(
  api: FakeBotApi,
  endpoint: string,
  search: URLSearchParams,
  body: Record<string, unknown>,
): Record<string, unknown> | undefined {
  switch (endpoint) {
    case 'GET /health':
      return {};
    case 'POST /seed':
      return seed(api, body);
    case 'POST /chats': {
      const chatIds = numberArray(body.chatIds, 'chatIds');
      for (const chatId of chatIds) api.addChat(chatId);
      return { registered: chatIds.length };
    }
    case 'GET /stats':
      return { ...api.stats(), messages: api.messageCounts(), rateLimits: api.rateLimits() };
    case 'POST /stats/reset':
      api.resetCalls();
      return {};
    case 'POST /rate-limits':
      api.setRateLimits(body as RateLimits);
      return { rateLimits: api.rateLimits() };
    case 'GET /faults':
      return { faults: api.pendingFaults() };
    case 'POST /faults': {
      const times = body.times === null || body.times === 'Infinity' ? Number.POSITIVE_INFINITY : body.times;
      return {
        fault: api.injectFault({
          ...(body as unknown as FaultSpec),
          ...(times === undefined ? {} : { times: times as number }),
        }),
      };
    }
    case 'DELETE /faults':
      api.clearFaults();
      return {};
    case 'POST /latency':
      api.setLatency(requiredString(body.method, 'method'), requiredNumber(body.ms, 'ms'));
      return {};
    case 'POST /methods/disable':
      api.disableMethod(requiredString(body.method, 'method'));
      return {};
    case 'POST /methods/enable':
      api.enableMethod(requiredString(body.method, 'method'));
      return {};
    case 'GET /messages':
      return messages(api, search);
    case 'POST /users/message':
      return {
        message: api.sendUserMessage({
          from: body.from as FakeUser,
          text: requiredString(body.text, 'text'),
          ...(body.chatId === undefined ? {} : { chatId: requiredNumber(body.chatId, 'chatId') }),
          ...(body.replyTo === undefined ? {} : { replyTo: requiredNumber(body.replyTo, 'replyTo') }),
        }),
      };
    case 'POST /users/messages': {
      if (!Array.isArray(body.messages)) throw new Error('"messages" must be an array');
      const sent = body.messages.map((entry: unknown, index) => {
        const input = (entry ?? {}) as Record<string, unknown>;
        return api.sendUserMessage({
          from: input.from as FakeUser,
          text: requiredString(input.text, `messages[${index}].text`),
          ...(input.chatId === undefined ? {} : { chatId: requiredNumber(input.chatId, 'chatId') }),
          ...(input.replyTo === undefined ? {} : { replyTo: requiredNumber(input.replyTo, 'replyTo') }),
        }).message_id;
      });
      return { messageIds: sent, at: api.now() };
    }
    case 'GET /updates':
      return { pending: api.pendingUpdateCount(), longPolling: api.isLongPolling() };
    case 'GET /calls':
      return calls(api, search);
    case 'POST /users/block':
      api.blockBot(requiredNumber(body.userId, 'userId'));
      return {};
    case 'POST /users/unblock':
      api.unblockBot(requiredNumber(body.userId, 'userId'));
      return {};
    case 'POST /users/deactivate':
      api.deactivateUser(requiredNumber(body.userId, 'userId'));
      return {};
    default:
      return undefined;
  }
}

function seed(api: FakeBotApi, body: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(body.chats)) {
    const chats = body.chats.map((entry: unknown, index): BulkSeedChat => {
      const chat = (entry ?? {}) as Record<string, unknown>;
      return {
        chatId: requiredNumber(chat.chatId, `chats[${index}].chatId`),
        count: requiredNumber(chat.count, `chats[${index}].count`),
        ...(chat.date === undefined ? {} : { date: requiredNumber(chat.date, `chats[${index}].date`) }),
      };
    });
    const ranges = api.seedBulk(chats);
    return { seededMessages: chats.reduce((sum, chat) => sum + chat.count, 0), chats: ranges };
  }
  const range = body.chatRange as Record<string, unknown> | undefined;
  if (range === undefined) throw new Error('seed needs "chats" or "chatRange"');
  const firstChatId = requiredNumber(range.firstChatId, 'chatRange.firstChatId');
  const chatCount = requiredNumber(range.chatCount, 'chatRange.chatCount');
  const messagesPerChat = requiredNumber(range.messagesPerChat, 'chatRange.messagesPerChat');
  const date = range.date === undefined ? undefined : requiredNumber(range.date, 'chatRange.date');
  const chats: BulkSeedChat[] = [];
  for (let i = 0; i < chatCount; i++) {
    chats.push({ chatId: firstChatId + i, count: messagesPerChat, ...(date === undefined ? {} : { date }) });
  }
  const ranges = api.seedBulk(chats);
  // Ranges of 100,000 chats are megabytes of JSON; a caller that seeded fresh chats knows them.
  return {
    seededMessages: chatCount * messagesPerChat,
    ...(range.includeRanges === true ? { chats: ranges } : {}),
  };
}

/** Recorded calls in a compact form, for benchmarks that follow replies as they are sent. */
function calls(api: FakeBotApi, search: URLSearchParams): Record<string, unknown> {
  const all = api.calls;
  const from = Math.max(0, Number(search.get('from') ?? '0') || 0);
  if (all.length === 0 && api.stats().totalCalls > 0) {
    throw new Error('calls are not recorded: start the fake with --record-calls');
  }
  const page = all.slice(from).map((call) => {
    const chatId = Number(call.params.chat_id);
    const text = call.method === 'sendMessage' ? call.params.text : undefined;
    return {
      time: call.time,
      method: call.method,
      ...(Number.isFinite(chatId) ? { chatId } : {}),
      status: call.status,
      ...(typeof text === 'string' ? { text } : {}),
    };
  });
  return { calls: page, next: from + page.length };
}

function messages(api: FakeBotApi, search: URLSearchParams): Record<string, unknown> {
  const chatIdText = search.get('chatId');
  if (chatIdText === null) return { ...api.messageCounts() };
  const chatId = requiredNumber(Number(chatIdText), 'chatId');
  const counts = api.messageCounts(chatId);
  if (search.get('ids') !== '1') return { chatId, visible: counts.visible, deleted: counts.deleted };
  const view = api.chat(chatId);
  return {
    chatId,
    visible: counts.visible,
    deleted: counts.deleted,
    visibleIds: view.messages.map((message) => message.message_id),
    deletedIds: view.deleted.map((entry) => entry.message.message_id),
  };
}

function requiredNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`"${name}" must be a number`);
  return value;
}

function requiredString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`"${name}" must be a non-empty string`);
  return value;
}

function numberArray(value: unknown, name: string): number[] {
  if (!Array.isArray(value)) throw new Error(`"${name}" must be an array of numbers`);
  return value.map((item, index) => requiredNumber(item, `${name}[${index}]`));
}
