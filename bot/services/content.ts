import { randomBytes } from 'node:crypto';
import type { Api } from 'grammy';
import type { ObjectId } from 'mongodb';
import type { ContentDoc } from '../../db/collections.js';
import type { ContentsRepository } from '../../db/repositories/contents.js';
import type { PendingDeletionsRepository } from '../../db/repositories/pending-deletions.js';
import { contentLink } from '../links.js';
import { classifyTelegramError } from '../telegram/errors.js';
import { formatMinutes } from '../validation.js';
import { persist } from './persistent-write.js';

export class ContentUnavailableError extends Error {
  override readonly name = 'ContentUnavailableError';
}

/**
 * Self-deleting content: an admin saves a message, users receive copies through its link, and
 * every copy is scheduled for the message deleter.
 */
export interface ContentServiceOptions {
  /** Copies are sent with protect_content: recipients cannot forward or save what will disappear. */
  protectContent: boolean;
  /** How long recording a sent message's id may keep failing before it is deleted again (5 s). */
  trackPatienceMs?: number;
}

export class ContentService {
  constructor(
    private readonly contents: ContentsRepository,
    private readonly deletions: PendingDeletionsRepository,
    private readonly options: ContentServiceOptions,
  ) {}

  async save(input: { chatId: number; messageId: number; adminId: number; now: Date; botUsername: string }) {
    const doc: ContentDoc = {
      _id: randomBytes(9).toString('base64url'),
      source_chat_id: input.chatId,
      source_message_id: input.messageId,
      created_by: input.adminId,
      created_at: input.now,
    };
    await this.contents.insert(doc);
    return { id: doc._id, link: contentLink(input.botUsername, doc._id) };
  }

  find(contentId: string): Promise<ContentDoc | null> {
    return this.contents.find(contentId);
  }

  /**
   * Copies the content into the user's chat with a line saying when it goes, and schedules both
   * messages for deletion. The record is written first and each message id added as soon as the
   * message exists, so no copy is ever left without its deletion: a copy whose id cannot be
   * recorded is deleted again at once.
   */
  async deliver(input: {
    api: Api;
    content: ContentDoc;
    userId: number;
    chatId: number;
    now: Date;
    deleteAfterMinutes: number;
    timezone: string;
  }): Promise<{ messageIds: number[]; deleteAt: Date }> {
    const { api, content } = input;
    const deleteAt = new Date(input.now.getTime() + input.deleteAfterMinutes * 60_000);
    const recordId = await this.deletions.schedule({
      user_id: input.userId,
      chat_id: input.chatId,
      message_ids: [],
      delete_at: deleteAt,
      content_id: content._id,
      created_at: input.now,
    });
    let copied: { message_id: number };
    try {
      copied = await api.copyMessage(input.chatId, content.source_chat_id, content.source_message_id, {
        protect_content: this.options.protectContent,
      });
    } catch (error) {
      // Nothing was sent; the empty record goes (or the message deleter drops it when due).
      await this.deletions.removeByIds([recordId]).catch(() => undefined);
      if (classifyTelegramError(error) === 'rejected') {
        throw new ContentUnavailableError('the saved message no longer exists', { cause: error });
      }
      throw error;
    }
    await this.track(api, input.chatId, recordId, copied.message_id);
    const messageIds = [copied.message_id];
    const note = await api.sendMessage(
      input.chatId,
      `⏳ This will be deleted in ${formatMinutes(input.deleteAfterMinutes)} (at ${formatTime(deleteAt, input.timezone)}).`,
      { reply_parameters: { message_id: copied.message_id, allow_sending_without_reply: true } },
    );
    await this.track(api, input.chatId, recordId, note.message_id);
    messageIds.push(note.message_id);
    return { messageIds, deleteAt };
  }

  /** Adds a sent message to its record; if that cannot be written, the message is taken back. */
  private async track(api: Api, chatId: number, recordId: ObjectId, messageId: number): Promise<void> {
    const patienceMs = this.options.trackPatienceMs ?? 5_000;
    try {
      await persist(() => this.deletions.addMessages(recordId, [messageId]), {
        patienceMs,
        onStuck: () => {},
        signal: AbortSignal.timeout(patienceMs),
      });
    } catch (error) {
      await api.deleteMessage(chatId, messageId).catch(() => undefined);
      throw error;
    }
  }
}

export function formatTime(at: Date, timeZone: string): string {
  return `${new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(at)} ${timeZone}`;
}
