import type { InlineKeyboardMarkup } from 'grammy/types';
import { contentLink } from './links.js';

export const CLICK_HERE = 'Click Here';

/** The message a user finds where self-deleting content was: one tap gets it again. */
export function deletionNotice(
  botUsername: string,
  contentId: string,
): { text: string; reply_markup: InlineKeyboardMarkup } {
  return {
    text: '🗑 The content you opened here was deleted because its time was up.\nTap “Click Here” to get it again.',
    reply_markup: { inline_keyboard: [[{ text: CLICK_HERE, url: contentLink(botUsername, contentId) }]] },
  };
}
