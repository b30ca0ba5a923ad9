import { randomBytes } from 'node:crypto';
import type { Api } from 'grammy';
import type { Collection } from 'mongodb';
import type { ContentDoc } from '../../db/collections.js';
import type { PendingDeletionsRepository } from '../../db/repositories/pending-deletions.js';
import { contentLink } from '../links.js';
import { classifyTelegramError } from '../telegram/errors.js';
import { formatMinutes } from '../validation.js';

export class ContentUnavailableError extends Error {
  override readonly name = 'ContentUnavailableError';
}

/**
 * Self-deleting content: an admin saves a message, users receive copies through its link, and
 * every copy is scheduled for the message deleter.
 */
export class ContentService {
  constructor(
    private readonly contents: Collection<ContentDoc>,
    private readonly deletions: PendingDeletionsRepository,
  ) {}

  async save(input: { chatId: number; messageId: number; adminId: number; now: Date; botUsername: string }) {
    const doc: ContentDoc = {
      _id: randomBytes(9).toString('base64url'),
      source_chat_id: input.chatId,
      source_message_id: input.messageId,
      created_by: input.adminId,
      created_at: input.now,
    };
    await this.contents.insertOne(doc);
    return { id: doc._id, link: contentLink(input.botUsername, doc._id) };
  }

  find(contentId: string): Promise<ContentDoc | null> {
    return this.contents.findOne({ _id: contentId });
  }

  /**
   * Copies the content into the user's chat with a line saying when it goes, and schedules both
   * messages for deletion. The record is written right after the copy, so a copy is never left
   * without its deletion.
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
    let copied: { message_id: number };
    try {
      copied = await api.copyMessage(input.chatId, content.source_chat_id, content.source_message_id);
    } catch (error) {
      if (classifyTelegramError(error) === 'rejected') {
        throw new ContentUnavailableError('the saved message no longer exists', { cause: error });
      }
      throw error;
    }
    const deleteAt = new Date(input.now.getTime() + input.deleteAfterMinutes * 60_000);
    const messageIds = [copied.message_id];
    try {
      const note = await api.sendMessage(
        input.chatId,
        `⏳ This will be deleted in ${formatMinutes(input.deleteAfterMinutes)} (at ${formatTime(deleteAt, input.timezone)}).`,
        { reply_parameters: { message_id: copied.message_id, allow_sending_without_reply: true } },
      );
      messageIds.push(note.message_id);
    } finally {
      await this.deletions.schedule({
        user_id: input.userId,
        chat_id: input.chatId,
        message_ids: messageIds,
        delete_at: deleteAt,
        content_id: content._id,
        created_at: input.now,
      });
    }
    return { messageIds, deleteAt };
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
