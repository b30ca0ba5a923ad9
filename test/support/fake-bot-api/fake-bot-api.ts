import type { Server } from 'node:http';
import type { BotCommand, BotCommandScope, Message, Update, UserFromGetMe } from 'grammy/types';
import { BotApiError } from './api-error.js';
import { CommandStore } from './bot-commands.js';
import { CallLog, type CallRecord, type CallStats } from './call-log.js';
import {
  CallbackQueries,
  type CallbackQueryRecord,
  DEFAULT_CALLBACK_ANSWER_WINDOW_MS,
} from './callback-queries.js';
import { type ChatRecord, ChatStore, type MessageCounts, type StoredMessage } from './chat-store.js';
import { createControlApi } from './control-api.js';
import { Dispatcher } from './dispatcher.js';
import { FaultInjector, type FaultSpec, type PendingFault } from './faults.js';
import { CONTROL_PREFIX, listen } from './http-layer.js';
import type { FakeBotState, SentDocument, UnknownChatPolicy } from './methods/index.js';
import { UploadedFiles } from './multipart.js';
import { RateLimiter, type RateLimits } from './rate-limiter.js';
import {
  type ButtonPressInput,
  pressButton,
  sendUserMessage,
  setBotBlocked,
  type UserMessageInput,
} from './simulated-users.js';
import { type BotIdentity, type ChatKind, type FakeUser, getMeJson } from './telegram-objects.js';
import { UpdateQueue } from './update-queue.js';
import { type WebhookSettings, WebhookState } from './webhook-settings.js';

export interface FakeBotApiOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1; the fake is meant for loopback only. */
  host?: string;
  token?: string;
  bot?: BotIdentity;
  /** Millisecond clock for message dates, the 48-hour rule, flood control and call times. */
  now?: () => number;
  rateLimits?: RateLimits;
  /** What sending to a chat the fake has never seen does; default 'chat-not-found' like Telegram. */
  unknownChats?: UnknownChatPolicy;
  callbackAnswerWindowMs?: number;
  /** Keep every call with its parameters (default true; benchmarks turn it off to save memory). */
  recordCalls?: boolean;
}

/** A message as tests inspect it: Telegram's Message plus where a copy came from. */
export type InspectedMessage = Message & { copied_from?: { chat_id: number; message_id: number } };

export interface DeletedMessage {
  message: InspectedMessage;
  /** Milliseconds on the injected clock. */
  deletedAt: number;
}

export interface ChatView {
  /** Visible messages in message_id order. */
  messages: InspectedMessage[];
  /** Deleted messages by deletion time, then message_id. */
  deleted: DeletedMessage[];
}

export interface SeedOptions {
  /** Unix seconds for Message.date; default now. Use an old date to create undeletable messages. */
  date?: number;
  /** Sender; default the bot. */
  from?: FakeUser;
}

export interface BulkSeedChat {
  chatId: number;
  count: number;
  date?: number;
}

export const DEFAULT_TOKEN = '123456:TEST-token';
export const DEFAULT_BOT: BotIdentity = {
  id: 100000,
  username: 'test_maint_bot',
  first_name: 'Test Maintenance Bot',
};
const SEEDED_TEXT = 'Seeded message';

/** A running fake Telegram Bot API server and the handles tests use to drive and inspect it. */
export class FakeBotApi {
  readonly token: string;
  readonly botInfo: UserFromGetMe;

  private clock: () => number;
  private readonly state: FakeBotState;
  private readonly store: ChatStore;
  private readonly updates: UpdateQueue;
  private readonly webhook: WebhookState;
  private readonly commandStore = new CommandStore();
  private readonly callbacks: CallbackQueries;
  private readonly faults = new FaultInjector();
  private readonly rateLimiter = new RateLimiter();
  private readonly callLog: CallLog;
  private readonly dispatcher: Dispatcher;
  private readonly files = new UploadedFiles();
  private server: Server | undefined;
  private address = { host: '127.0.0.1', port: 0 };

  private constructor(options: FakeBotApiOptions) {
    this.token = options.token ?? DEFAULT_TOKEN;
    const bot = options.bot ?? DEFAULT_BOT;
    this.botInfo = getMeJson(bot);
    this.clock = options.now ?? Date.now;
    this.store = new ChatStore(bot);
    this.updates = new UpdateQueue(() => this.clock());
    this.webhook = new WebhookState(this.updates);
    this.callbacks = new CallbackQueries(bot.id);
    this.callLog = new CallLog(options.recordCalls ?? true);
    this.state = {
      bot,
      store: this.store,
      updates: this.updates,
      webhook: this.webhook,
      commands: this.commandStore,
      callbacks: this.callbacks,
      unknownChats: options.unknownChats ?? 'chat-not-found',
      callbackAnswerWindowMs: options.callbackAnswerWindowMs ?? DEFAULT_CALLBACK_ANSWER_WINDOW_MS,
      files: this.files,
      documents: [],
      nowMs: () => this.clock(),
    };
    this.dispatcher = new Dispatcher(this.state, this.faults, this.rateLimiter, this.callLog);
    if (options.rateLimits !== undefined) this.rateLimiter.set(options.rateLimits);
  }

  static async start(options: FakeBotApiOptions = {}): Promise<FakeBotApi> {
    const api = new FakeBotApi(options);
    const host = options.host ?? '127.0.0.1';
    const control = createControlApi(api);
    const { server, port } = await listen(
      { token: api.token, botApi: (request) => api.dispatcher.dispatch(request), control },
      options.port ?? 0,
      host,
    );
    api.server = server;
    api.address = { host, port };
    return api;
  }

  /** What grammY's `client.apiRoot` option takes, e.g. http://127.0.0.1:41234. */
  get apiRoot(): string {
    const { host, port } = this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Base URL of the control API used by other processes (see control-api.ts). */
  get controlUrl(): string {
    return `${this.apiRoot}${CONTROL_PREFIX}`;
  }

  /** Stops listening, answers a waiting long poll with no updates and drops open connections. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.updates.close();
    // One turn of the event loop lets the emptied long poll write its answer before sockets close.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  // --- Simulated users -----------------------------------------------------------------------

  /** A user sends text; returns the stored message (its `message` update is queued). */
  sendUserMessage(input: UserMessageInput): Message {
    return sendUserMessage(this.state, input);
  }

  /** A user presses an inline button; returns the callback query id. */
  pressButton(input: ButtonPressInput): string {
    return pressButton(this.state, input);
  }

  blockBot(userId: number): void {
    setBotBlocked(this.state, userId, true);
  }

  unblockBot(userId: number): void {
    setBotBlocked(this.state, userId, false);
  }

  /** The user deleted their account: sends and deletions answer 403 "user is deactivated". */
  deactivateUser(userId: number): void {
    this.store.ensure(userId).deactivated = true;
  }

  /** Makes a chat known, as if the user had started the bot (sends to unknown chats fail). */
  addChat(chatId: number, options: { user?: FakeUser; type?: ChatKind; title?: string } = {}): void {
    this.store.ensure(chatId, {
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.type === undefined ? {} : { kind: options.type }),
      ...(options.title === undefined ? {} : { title: options.title }),
    });
  }

  // --- Seeding -------------------------------------------------------------------------------

  /** Stores messages as if sent earlier (by the bot unless `from` is given); returns their ids. */
  seedMessages(
    chatId: number,
    countOrTexts: number | readonly string[],
    options: SeedOptions = {},
  ): number[] {
    const chat = this.store.ensure(
      chatId,
      options.from !== undefined && chatId === options.from.id ? { user: options.from } : {},
    );
    const texts = typeof countOrTexts === 'number' ? undefined : countOrTexts;
    const count = texts?.length ?? (countOrTexts as number);
    const date = options.date ?? Math.floor(this.clock() / 1000);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(
        this.store.add(chat, { sender: options.from, text: texts?.[i] ?? SEEDED_TEXT, date }).messageId,
      );
    }
    return ids;
  }

  /** Seeds many chats at once without per-id arrays; returns each chat's id range. */
  seedBulk(chats: readonly BulkSeedChat[]): { chatId: number; firstId: number; lastId: number }[] {
    const now = Math.floor(this.clock() / 1000);
    return chats.map(({ chatId, count, date }) => {
      const chat = this.store.ensure(chatId);
      const firstId = chat.messages.length + 1;
      for (let i = 0; i < count; i++)
        this.store.add(chat, { sender: undefined, text: SEEDED_TEXT, date: date ?? now });
      return { chatId, firstId, lastId: chat.messages.length };
    });
  }

  // --- Inspection ----------------------------------------------------------------------------

  chat(chatId: number): ChatView {
    return {
      messages: this.store.visible(chatId).map((message) => this.inspect(message)),
      deleted: this.store
        .deleted(chatId)
        .map((message) => ({ message: this.inspect(message), deletedAt: message.deletedAt as number })),
    };
  }

  /** The bytes of a file the bot uploaded (e.g. a photo message's `photo[0].file_id`). */
  uploadedFile(fileId: string): Buffer | undefined {
    return this.files.get(fileId);
  }

  /** The documents bots uploaded (sendDocument), with their bytes; only those sent to `chatId` if given. */
  documents(chatId?: number): SentDocument[] {
    return this.state.documents.filter((doc) => chatId === undefined || doc.chatId === chatId);
  }

  messages(chatId: number): InspectedMessage[] {
    return this.chat(chatId).messages;
  }

  lastBotMessage(chatId: number): InspectedMessage | undefined {
    const last = this.store
      .visible(chatId)
      .filter((message) => message.fromBot)
      .at(-1);
    return last === undefined ? undefined : this.inspect(last);
  }

  messageCounts(chatId?: number): MessageCounts {
    return this.store.counts(chatId);
  }

  /** Whether the user currently blocks the bot / deleted their account, for assertions. */
  chatStatus(chatId: number): Pick<ChatRecord, 'blocked' | 'deactivated'> | undefined {
    const chat = this.store.get(chatId);
    return chat === undefined ? undefined : { blocked: chat.blocked, deactivated: chat.deactivated };
  }

  get calls(): readonly CallRecord[] {
    return this.callLog.calls;
  }

  callCount(method?: string): number {
    return this.callLog.count(method);
  }

  count429(): number {
    return this.callLog.countStatus(429);
  }

  stats(): CallStats {
    return this.callLog.stats();
  }

  resetCalls(): void {
    this.callLog.reset();
  }

  callbackQueries(): CallbackQueryRecord[] {
    return this.callbacks.all();
  }

  answeredCallbackQueries(): CallbackQueryRecord[] {
    return this.callbacks.answered();
  }

  /** Commands set with setMyCommands for exactly this scope and language (default scope and ''). */
  commands(scope: BotCommandScope = { type: 'default' }, languageCode = ''): BotCommand[] {
    return this.commandStore.get(scope, languageCode);
  }

  allCommands(): { scope: BotCommandScope; languageCode: string; commands: BotCommand[] }[] {
    return this.commandStore.all();
  }

  /** The webhook set with setWebhook (`url` empty when none), secret included, for assertions. */
  webhookSettings(): WebhookSettings {
    return this.webhook.current;
  }

  /**
   * Takes the updates waiting for delivery and forgets them, as a webhook delivery answered 2xx
   * does. Tests post them to the bot's webhook themselves: they play Telegram's side (and the
   * load balancer's), which the fake cannot, since Telegram only posts to public https URLs.
   */
  takeWebhookUpdates(): Update[] {
    return this.updates.drain();
  }

  pendingUpdateCount(): number {
    return this.updates.pendingCount();
  }

  /** Calls of `method` received and still waiting out their latency (not answered yet). */
  callsInFlight(method: string): number {
    return this.dispatcher.inFlight.get(method) ?? 0;
  }

  /** Whether a long poll is waiting, so a test can order two polls without sleeping. */
  isLongPolling(): boolean {
    return this.updates.polling;
  }

  // --- Faults and conditions -----------------------------------------------------------------

  injectFault(spec: FaultSpec): PendingFault {
    return this.faults.inject(spec);
  }

  pendingFaults(): readonly PendingFault[] {
    return this.faults.pending();
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Delays answers of `method` (or of every method with '*') by `ms` of real time. */
  setLatency(method: string, ms: number): void {
    if (ms > 0) this.dispatcher.latencyMs.set(method, ms);
    else this.dispatcher.latencyMs.delete(method);
  }

  /**
   * Calls of `method` wait (received, unanswered, counted by callsInFlight) until `release()`:
   * a test can act while the bot is stuck in a call, without timing.
   */
  holdCalls(method: string): { release(failure?: { status: number; description: string }): void } {
    let release!: (failure: BotApiError | undefined) => void;
    const held = new Promise<BotApiError | undefined>((resolve) => {
      release = resolve;
    });
    this.dispatcher.holds.set(method, held);
    return {
      // A failure answers the held calls with it instead, as when the caller's connection broke.
      release: (failure) => {
        if (this.dispatcher.holds.get(method) === held) this.dispatcher.holds.delete(method);
        release(failure === undefined ? undefined : new BotApiError(failure.status, failure.description));
      },
    };
  }

  /** The method then answers 404 Not Found, as Telegram does for methods it does not know. */
  disableMethod(name: string): void {
    this.dispatcher.disabledMethods.add(name);
  }

  enableMethod(name: string): void {
    this.dispatcher.disabledMethods.delete(name);
  }

  /**
   * Merges into the limits in force; `undefined` lifts a limit. Throws RangeError for a rate of 0
   * or a burst below 1, which would refuse every call.
   */
  setRateLimits(limits: RateLimits): void {
    this.rateLimiter.set(limits);
  }

  rateLimits(): RateLimits {
    return this.rateLimiter.current();
  }

  resetRateLimitWindows(): void {
    this.rateLimiter.reset();
  }

  setClock(now: () => number): void {
    this.clock = now;
  }

  now(): number {
    return this.clock();
  }

  private inspect(message: StoredMessage): InspectedMessage {
    const json: InspectedMessage = this.store.toJson(message);
    const source = message.copiedFrom;
    return source === undefined
      ? json
      : { ...json, copied_from: { chat_id: source.chatId, message_id: source.messageId } };
  }
}

export function startFakeBotApi(options: FakeBotApiOptions = {}): Promise<FakeBotApi> {
  return FakeBotApi.start(options);
}
