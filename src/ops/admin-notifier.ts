import { classifyTelegramError } from '../../bot/telegram/errors.js';
import type { Logger } from '../logger.js';

/** The one Bot API method alerts need; grammY's `Api` fits. */
export interface MessageSender {
  sendMessage(chatId: number, text: string): Promise<unknown>;
}

export interface NotifyOutcome {
  delivered: number[];
  /** Telegram will not take it (blocked the bot, never started it, bad request): no retry. */
  refused: number[];
  /** 5xx, network, flood control: worth another try later. */
  retryLater: number[];
}

/** Telegram's limit for a message text. */
const MAX_TEXT_LENGTH = 4096;

/**
 * Sends one plain-text message to each admin. A failure for one admin is logged and the others
 * still get theirs; nothing is thrown.
 */
export async function notifyAdmins(
  sender: MessageSender,
  adminIds: readonly number[],
  message: string,
  logger: Logger,
  context: Record<string, unknown> = {},
): Promise<NotifyOutcome> {
  const outcome: NotifyOutcome = { delivered: [], refused: [], retryLater: [] };
  const text = message.length > MAX_TEXT_LENGTH ? `${message.slice(0, MAX_TEXT_LENGTH - 1)}…` : message;
  for (const adminId of adminIds) {
    try {
      await sender.sendMessage(adminId, text);
      outcome.delivered.push(adminId);
    } catch (error) {
      const kind = classifyTelegramError(error);
      const retry = kind === 'transient' || kind === 'rate_limited';
      (retry ? outcome.retryLater : outcome.refused).push(adminId);
      logger.warn(
        { ...context, err: error, adminId, retry },
        retry
          ? 'could not send an alert to an admin; it is retried later'
          : 'could not send an alert to an admin (has the admin started the bot?)',
      );
    }
  }
  return outcome;
}
