import type { Composer } from 'grammy';
import type { BotCommand } from 'grammy/types';
import type { BotContext, BotDeps } from '../../context.js';

/**
 * A feature for admins only. It is mounted behind the admin filter, so nothing in it is reachable
 * by anyone else, listed or not; `commands` only feeds the admins' command menu and the polite
 * refusal non-admins get, and `callbacks` the refusal of its buttons.
 */
export interface AdminFeature {
  commands: readonly BotCommand[];
  callbacks?: RegExp;
  create(deps: BotDeps): Composer<BotContext>;
}
