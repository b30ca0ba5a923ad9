import type { Chat, User, UserFromGetMe } from 'grammy/types';

/** A simulated Telegram user as tests describe them. */
export interface FakeUser {
  id: number;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface BotIdentity {
  id: number;
  username: string;
  first_name: string;
}

export function userJson(user: FakeUser): User {
  return {
    id: user.id,
    is_bot: false,
    first_name: user.first_name,
    ...(user.last_name === undefined ? {} : { last_name: user.last_name }),
    ...(user.username === undefined ? {} : { username: user.username }),
    ...(user.language_code === undefined ? {} : { language_code: user.language_code }),
  };
}

export function botUserJson(bot: BotIdentity): User {
  return { id: bot.id, is_bot: true, first_name: bot.first_name, username: bot.username };
}

/** getMe's answer for a freshly created bot with BotFather's defaults. */
export function getMeJson(bot: BotIdentity): UserFromGetMe {
  return {
    id: bot.id,
    is_bot: true,
    first_name: bot.first_name,
    username: bot.username,
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
    has_topics_enabled: false,
    allows_users_to_create_topics: false,
    can_manage_bots: false,
    supports_join_request_queries: false,
  };
}

export type ChatKind = 'private' | 'group' | 'supergroup';

/** Telegram's id conventions: users are positive, basic groups negative, supergroups below -10^12. */
export function chatKindForId(chatId: number): ChatKind {
  if (chatId > 0) return 'private';
  return chatId < -1_000_000_000_000 ? 'supergroup' : 'group';
}

export function chatJson(
  chatId: number,
  kind: ChatKind,
  user: FakeUser | undefined,
  title: string | undefined,
): Chat {
  if (kind === 'private') {
    const other = user ?? { id: chatId, first_name: defaultFirstName(chatId) };
    return {
      id: chatId,
      type: 'private',
      first_name: other.first_name,
      ...(other.last_name === undefined ? {} : { last_name: other.last_name }),
      ...(other.username === undefined ? {} : { username: other.username }),
    };
  }
  return { id: chatId, type: kind, title: title ?? `Chat ${chatId}` };
}

export function defaultFirstName(userId: number): string {
  return `User ${userId}`;
}
