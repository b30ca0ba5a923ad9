import type { BotCommand, BotCommandScope } from 'grammy/types';
import { BotApiError, DESCRIPTIONS, tdlibError } from './api-error.js';
import { JsonObjectReader, type Params } from './request-params.js';

const MAX_COMMANDS = 100;
const MAX_DESCRIPTION_LENGTH = 256;
const COMMAND_PATTERN = /^[a-z0-9_]{1,32}$/;

export type ParsedScope =
  | { type: 'default' | 'all_private_chats' | 'all_group_chats' | 'all_chat_administrators' }
  | { type: 'chat' | 'chat_administrators'; chatIdText: string }
  | { type: 'chat_member'; chatIdText: string; userId: number };

/** get_bot_command_scope of the Bot API server, with its error texts. */
export function parseScope(params: Params): ParsedScope {
  const field = params.json('scope');
  if (!field.present) return { type: 'default' };
  if ('invalid' in field) throw tdlibError("Can't parse BotCommandScope JSON object");
  try {
    const object = JsonObjectReader.from(field.value, 'BotCommandScope must be an Object');
    const type = object.requiredString('type');
    if (type === 'default' || type === 'all_private_chats' || type === 'all_group_chats') return { type };
    if (type === 'all_chat_administrators') return { type };
    if (type !== 'chat' && type !== 'chat_administrators' && type !== 'chat_member') {
      throw new Error('Unsupported type specified');
    }
    const chatIdText = object.requiredString('chat_id');
    if (chatIdText === '') throw new Error('Empty chat_id specified');
    if (type !== 'chat_member') return { type, chatIdText };
    const userId = object.requiredInt('user_id');
    if (userId <= 0) throw new Error('Invalid user_id specified');
    return { type, chatIdText, userId };
  } catch (error) {
    if (error instanceof BotApiError) throw error;
    throw tdlibError(`Can't parse BotCommandScope: ${(error as Error).message}`);
  }
}

/** get_bot_commands plus TDLib's and the server's checks of each command. */
export function parseCommands(params: Params): BotCommand[] {
  const field = params.json('commands');
  if (!field.present) return [];
  if ('invalid' in field) throw tdlibError("Can't parse commands JSON object");
  if (!Array.isArray(field.value)) throw tdlibError('Expected an Array of BotCommand');
  const commands: BotCommand[] = [];
  for (const item of field.value) {
    let command: string;
    let description: string;
    try {
      const object = JsonObjectReader.from(item, 'expected an Object');
      command = object.requiredString('command');
      description = object.requiredString('description');
    } catch (error) {
      throw tdlibError(`Can't parse BotCommand: ${(error as Error).message}`);
    }
    if (command === '') throw tdlibError('Command must be non-empty');
    if (description === '') throw tdlibError('Command description must be non-empty');
    if (!COMMAND_PATTERN.test(command)) throw new BotApiError(400, DESCRIPTIONS.botCommandInvalid);
    if (description.length > MAX_DESCRIPTION_LENGTH) {
      throw new BotApiError(400, 'Bad Request: BOT_COMMAND_DESCRIPTION_INVALID');
    }
    commands.push({ command, description });
  }
  if (commands.length > MAX_COMMANDS) throw new BotApiError(400, 'Bad Request: BOT_COMMANDS_TOO_MUCH');
  return commands;
}

/** A resolved scope as the fake stores it: chat ids are numbers once the chat check passed. */
export function scopeKey(scope: BotCommandScope, languageCode: string): string {
  switch (scope.type) {
    case 'chat':
    case 'chat_administrators':
      return `${scope.type}:${scope.chat_id}|${languageCode}`;
    case 'chat_member':
      return `${scope.type}:${scope.chat_id}:${scope.user_id}|${languageCode}`;
    default:
      return `${scope.type}|${languageCode}`;
  }
}

/** Commands per (scope, language) as setMyCommands left them; getMyCommands reads exact keys only. */
export class CommandStore {
  private readonly byKey = new Map<
    string,
    { scope: BotCommandScope; languageCode: string; commands: BotCommand[] }
  >();

  set(scope: BotCommandScope, languageCode: string, commands: BotCommand[]): void {
    const key = scopeKey(scope, languageCode);
    if (commands.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, { scope, languageCode, commands });
  }

  get(scope: BotCommandScope, languageCode: string): BotCommand[] {
    return this.byKey.get(scopeKey(scope, languageCode))?.commands ?? [];
  }

  delete(scope: BotCommandScope, languageCode: string): void {
    this.byKey.delete(scopeKey(scope, languageCode));
  }

  all(): { scope: BotCommandScope; languageCode: string; commands: BotCommand[] }[] {
    return [...this.byKey.values()];
  }
}
