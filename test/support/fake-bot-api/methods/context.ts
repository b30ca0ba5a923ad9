import type { CommandStore } from '../bot-commands.js';
import type { CallbackQueries } from '../callback-queries.js';
import type { ChatStore } from '../chat-store.js';
import type { UploadedFiles, UploadedPart } from '../multipart.js';
import type { Params } from '../request-params.js';
import type { BotIdentity } from '../telegram-objects.js';
import type { UpdateQueue } from '../update-queue.js';
import type { WebhookState } from '../webhook-settings.js';

/**
 * What to do with a chat id the fake has never seen. Telegram answers "chat not found" for a user
 * who never started the bot, which is the default; 'register' treats any positive id as a private
 * chat with a user who did start it (handy for benchmarks that do not seed).
 */
export type UnknownChatPolicy = 'chat-not-found' | 'register';

/** The simulated Telegram state the method handlers read and change. */
export interface FakeBotState {
  readonly bot: BotIdentity;
  readonly store: ChatStore;
  readonly updates: UpdateQueue;
  readonly webhook: WebhookState;
  readonly commands: CommandStore;
  readonly callbacks: CallbackQueries;
  readonly unknownChats: UnknownChatPolicy;
  readonly callbackAnswerWindowMs: number;
  /** Files the bot uploaded (sendPhoto), by file_id. */
  readonly files: UploadedFiles;
  /** Every document a bot uploaded, in order (sendDocument). */
  readonly documents: SentDocument[];
  nowMs(): number;
}

export interface SentDocument {
  chatId: number;
  messageId: number;
  fileName: string;
  bytes: Buffer;
  caption: string;
}

export interface MethodContext {
  state: FakeBotState;
  params: Params;
  /** The file parts of a multipart request, by part name. */
  files?: ReadonlyMap<string, UploadedPart>;
  /** Aborted when the client closes the connection (long polls stop waiting then). */
  signal: AbortSignal;
}

export type MethodHandler = (context: MethodContext) => unknown;

/** A success that also carries Telegram's optional `description` (deleteWebhook does this). */
export class ResultWithDescription {
  constructor(
    readonly result: unknown,
    readonly description: string,
  ) {}
}

export function nowSeconds(state: FakeBotState): number {
  return Math.floor(state.nowMs() / 1000);
}
