import type { BotCommand, BotCommandScope } from 'grammy/types';
import { type ParsedScope, parseCommands, parseScope } from '../bot-commands.js';
import { resolveChat } from './chat-access.js';
import type { FakeBotState, MethodContext } from './context.js';

/** check_bot_command_scope: chat scopes need a chat the bot knows. */
function resolveScope(state: FakeBotState, scope: ParsedScope): BotCommandScope {
  if (scope.type === 'chat' || scope.type === 'chat_administrators') {
    return { type: scope.type, chat_id: resolveChat(state, scope.chatIdText, 'read').id };
  }
  if (scope.type === 'chat_member') {
    return {
      type: scope.type,
      chat_id: resolveChat(state, scope.chatIdText, 'read').id,
      user_id: scope.userId,
    };
  }
  return { type: scope.type };
}

export function setMyCommands({ state, params }: MethodContext): true {
  const commands = parseCommands(params);
  const scope = resolveScope(state, parseScope(params));
  state.commands.set(scope, params.str('language_code'), commands);
  return true;
}

export function getMyCommands({ state, params }: MethodContext): BotCommand[] {
  const scope = resolveScope(state, parseScope(params));
  return state.commands.get(scope, params.str('language_code'));
}

export function deleteMyCommands({ state, params }: MethodContext): true {
  const scope = resolveScope(state, parseScope(params));
  state.commands.delete(scope, params.str('language_code'));
  return true;
}
