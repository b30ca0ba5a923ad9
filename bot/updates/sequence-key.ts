import type { Update } from 'grammy/types';

/**
 * The queue an update belongs to: two updates with one key are never handled at once, updates
 * with different keys never wait for each other. A button press is keyed by who pressed it (the
 * message may be in a chat the user shares with others); everything else by its chat, or by its
 * sender when it has no chat. Updates with neither (none the bot asks for today) run freely.
 */
export function sequenceKey(update: Update): string | undefined {
  if (update.callback_query) return `user:${update.callback_query.from.id}`;
  const chat =
    update.message?.chat ??
    update.edited_message?.chat ??
    update.my_chat_member?.chat ??
    update.chat_member?.chat;
  if (chat) return `chat:${chat.id}`;
  const from =
    update.inline_query?.from ?? update.chosen_inline_result?.from ?? update.pre_checkout_query?.from;
  return from ? `user:${from.id}` : undefined;
}
