import type { Api } from 'grammy';
import type { Logger } from 'pino';
import { classifyTelegramError, describeTelegramError, type TelegramFailure } from '../telegram/errors.js';
import { type TransientRetryPolicy, withTransientRetry } from '../telegram/retry.js';
import { forGrammy } from '../telegram/signal.js';

/** What happened to the messages of one chat. */
export interface ChatDeletion {
  /** Confirmed gone: deleted now, or already deleted before (Telegram's "not found"). */
  done: number;
  /** Of `done`, those that were already gone. */
  alreadyGone: number;
  /** Telegram refused for good (e.g. older than 48 hours); never retried. */
  refused: number;
  /** Which ids were refused, so callers can tell which of their records lost every message. */
  refusedIds: number[];
  /** The chat cannot be reached (blocked, deactivated, not found): nothing more can be done there. */
  unreachable: boolean;
  /** Set when a 5xx or network failure outlasted the retries: the caller should try again later. */
  transientError?: string;
  /**
   * The caller's signal ended the work before every message was answered for (stop, timeout, lost
   * claim). Not a failure: nothing is known about the rest, so the caller leaves it untouched.
   */
  aborted?: boolean;
}

export interface DeletionEngineOptions {
  api: Api;
  logger: Logger;
  /** Retries of one call after a 5xx or network error. */
  retry: TransientRetryPolicy;
}

const MAX_IDS_PER_CALL = 100;

/**
 * Deletes messages the way Telegram prefers: up to 100 per `deleteMessages` call, falling back to
 * one `deleteMessage` per id on servers that lack the batch method (remembered for the process)
 * or when a batch is refused and the per-message answers are needed to tell which ones.
 */
export class DeletionEngine {
  private batchSupported = true;

  constructor(private readonly options: DeletionEngineOptions) {}

  get usesBatchDeletes(): boolean {
    return this.batchSupported;
  }

  async deleteFromChat(
    chatId: number,
    messageIds: readonly number[],
    signal?: AbortSignal,
  ): Promise<ChatDeletion> {
    const result: ChatDeletion = { done: 0, alreadyGone: 0, refused: 0, refusedIds: [], unreachable: false };
    const ids = [...new Set(messageIds)];
    for (let offset = 0; offset < ids.length; offset += MAX_IDS_PER_CALL) {
      const chunk = ids.slice(offset, offset + MAX_IDS_PER_CALL);
      const stop = this.batchSupported
        ? await this.deleteChunk(chatId, chunk, result, signal)
        : await this.deleteOneByOne(chatId, chunk, result, signal);
      if (stop) break;
    }
    return result;
  }

  /** Returns true when nothing more can be done in this chat for now. */
  private async deleteChunk(chatId: number, chunk: number[], result: ChatDeletion, signal?: AbortSignal) {
    const failure = await this.attempt(
      () => this.options.api.deleteMessages(chatId, chunk, forGrammy(signal)),
      signal,
    );
    if (failure === undefined) {
      result.done += chunk.length;
      return false;
    }
    switch (failure.kind) {
      case 'not_found':
        result.done += chunk.length;
        result.alreadyGone += chunk.length;
        return false;
      case 'method_unsupported':
        this.batchSupported = false;
        this.options.logger.warn(
          { answer: failure.description },
          'the Bot API server does not support deleteMessages; deleting one message per call from now on',
        );
        return this.deleteOneByOne(chatId, chunk, result, signal);
      case 'cannot_delete':
        // The batch answer does not say which messages were refused; ask one by one.
        return this.deleteOneByOne(chatId, chunk, result, signal);
      case 'rejected':
        // Malformed as a batch (e.g. an id Telegram does not accept): one by one tells which.
        return this.deleteOneByOne(chatId, chunk, result, signal);
      default:
        return this.settleFailure(failure, chatId, result);
    }
  }

  private async deleteOneByOne(chatId: number, chunk: number[], result: ChatDeletion, signal?: AbortSignal) {
    for (const messageId of chunk) {
      const failure = await this.attempt(
        () => this.options.api.deleteMessage(chatId, messageId, forGrammy(signal)),
        signal,
      );
      if (failure === undefined) {
        result.done += 1;
        continue;
      }
      if (failure.kind === 'not_found') {
        result.done += 1;
        result.alreadyGone += 1;
        continue;
      }
      if (
        failure.kind === 'cannot_delete' ||
        failure.kind === 'rejected' ||
        failure.kind === 'method_unsupported'
      ) {
        // Final answers: logged once here, and the caller removes the record, so never again.
        result.refused += 1;
        result.refusedIds.push(messageId);
        this.options.logger.warn(
          { chatId, messageId, answer: failure.description },
          failure.kind === 'cannot_delete'
            ? 'Telegram refuses to delete this message (older than 48 hours?); giving up on it'
            : 'Telegram rejected the deletion request; giving up on this message',
        );
        continue;
      }
      if (this.settleFailure(failure, chatId, result)) return true;
    }
    return false;
  }

  /** Unreachable chats, aborts and transient failures end the work in this chat for this run. */
  private settleFailure(failure: CallFailure, chatId: number, result: ChatDeletion): true {
    if (failure.kind === 'unreachable') {
      result.unreachable = true;
    } else if (failure.kind === 'aborted') {
      result.aborted = true;
    } else {
      result.transientError = failure.description;
      this.options.logger.debug(
        { chatId, answer: failure.description },
        'deletion postponed after a transient error',
      );
    }
    return true;
  }

  /** One call with bounded retries for 5xx and network errors; other failures come back classified. */
  private async attempt(
    call: () => Promise<unknown>,
    signal?: AbortSignal,
  ): Promise<CallFailure | undefined> {
    try {
      await withTransientRetry(call, this.options.retry, signal);
      return undefined;
    } catch (error) {
      if (signal?.aborted) return { kind: 'aborted', description: 'stopped before the call completed' };
      return { kind: classifyTelegramError(error), description: describeTelegramError(error) };
    }
  }
}

interface CallFailure {
  kind: TelegramFailure | 'aborted';
  description: string;
}
