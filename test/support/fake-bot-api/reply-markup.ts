import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'grammy/types';
import { BotApiError, DESCRIPTIONS, tdlibError } from './api-error.js';
import { JsonObjectReader, type Params } from './request-params.js';

/** Telegram's limit on callback_data, in UTF-8 bytes. */
export const MAX_CALLBACK_DATA_BYTES = 64;

export interface ParsedReplyMarkup {
  /** Only inline keyboards become part of the Message object Telegram returns. */
  inline?: InlineKeyboardMarkup;
  /** Reply keyboards, keyboard removal and force_reply affect the user's client only. */
  kind: 'none' | 'inline' | 'keyboard' | 'remove_keyboard' | 'force_reply';
}

/** get_reply_markup of the Bot API server, including TDLib's button checks. */
export function parseReplyMarkup(params: Params): ParsedReplyMarkup {
  const field = params.json('reply_markup');
  if (!field.present) return { kind: 'none' };
  if ('invalid' in field) throw tdlibError("Can't parse reply keyboard markup JSON object");
  let object: JsonObjectReader;
  try {
    object = JsonObjectReader.from(field.value, 'Object expected as reply markup');
  } catch (error) {
    throw tdlibError((error as Error).message);
  }

  const keyboard = optionalArray(object, 'keyboard');
  if (keyboard !== undefined) {
    for (const row of keyboard) {
      if (!Array.isArray(row)) throw tdlibError('Field "keyboard" must be an Array of Arrays');
      for (const button of row) checkKeyboardButton(button);
    }
  }

  const rows: InlineKeyboardButton[][] = [];
  const inlineKeyboard = optionalArray(object, 'inline_keyboard');
  if (inlineKeyboard !== undefined) {
    for (const row of inlineKeyboard) {
      if (!Array.isArray(row)) {
        throw tdlibError('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays');
      }
      const buttons = row.map(inlineButton);
      if (buttons.length > 0) rows.push(buttons);
    }
  }

  if (keyboard !== undefined && keyboard.length > 0) return { kind: 'keyboard' };
  if (rows.length > 0) return { kind: 'inline', inline: { inline_keyboard: rows } };
  if (bool(object, 'remove_keyboard') || bool(object, 'hide_keyboard')) return { kind: 'remove_keyboard' };
  if (bool(object, 'force_reply') || bool(object, 'force_reply_keyboard')) return { kind: 'force_reply' };
  return { kind: 'none' };
}

function optionalArray(object: JsonObjectReader, name: string): unknown[] | undefined {
  if (!object.has(name)) return undefined;
  const value = object.object[name];
  if (!Array.isArray(value)) throw tdlibError(`Field "${name}" must be of type Array`);
  return value;
}

function bool(object: JsonObjectReader, name: string): boolean {
  try {
    return object.optionalBool(name);
  } catch (error) {
    throw tdlibError((error as Error).message);
  }
}

function checkKeyboardButton(button: unknown): void {
  if (typeof button === 'string') return;
  try {
    JsonObjectReader.from(button, 'KeyboardButton must be a String or an Object').requiredString('text');
  } catch (error) {
    throw tdlibError(`Can't parse keyboard button: ${(error as Error).message}`);
  }
}

const OTHER_INLINE_BUTTON_FIELDS = [
  'callback_game',
  'pay',
  'switch_inline_query',
  'switch_inline_query_chosen_chat',
  'switch_inline_query_current_chat',
  'login_url',
  'web_app',
  'copy_text',
] as const;

function inlineButton(button: unknown): InlineKeyboardButton {
  let object: JsonObjectReader;
  let text: string;
  let url: string;
  let callbackData: string;
  try {
    object = JsonObjectReader.from(button, 'InlineKeyboardButton must be an Object');
    text = object.requiredString('text');
    url = object.optionalString('url');
    callbackData = url === '' ? object.optionalString('callback_data') : '';
    const hasOtherKind = OTHER_INLINE_BUTTON_FIELDS.some((name) => object.has(name));
    if (url === '' && callbackData === '' && !hasOtherKind) {
      throw new Error('Text buttons are unallowed in the inline keyboard');
    }
  } catch (error) {
    throw tdlibError(`Can't parse inline keyboard button: ${(error as Error).message}`);
  }
  if (url !== '') return { text, url: checkButtonUrl(url) };
  if (callbackData !== '') {
    if (Buffer.byteLength(callbackData, 'utf8') > MAX_CALLBACK_DATA_BYTES) {
      throw new BotApiError(400, DESCRIPTIONS.buttonDataInvalid);
    }
    return { text, callback_data: callbackData };
  }
  // Other button kinds are kept as sent; the fake does not simulate games, payments or web apps.
  return { ...(object.object as object), text } as InlineKeyboardButton;
}

const URL_PROTOCOLS = new Set(['http', 'https', 'tg', 'ton']);

/**
 * TDLib's check for button links: only http(s), tg and ton links, hosts that are reachable from the
 * Internet (a local host such as localhost is refused), and bare domains become http:// links.
 */
function checkButtonUrl(url: string): string {
  const invalid = (reason: string) => tdlibError(`Inline keyboard button URL '${url}' is invalid: ${reason}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && !URL_PROTOCOLS.has(scheme)) throw invalid('Unsupported URL protocol');
  if (scheme === 'tg' || scheme === 'ton') return url;
  let parsed: URL;
  try {
    parsed = new URL(scheme === undefined ? `http://${url}` : url);
  } catch {
    throw invalid(
      /^[^/:]+:[^/]*[^0-9/]/.test(url) ? 'Wrong port number specified in the URL' : 'Wrong HTTP URL',
    );
  }
  const host = parsed.hostname.toLowerCase();
  const isLocal =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.startsWith('127.') ||
    host === '0.0.0.0' ||
    host.startsWith('[') ||
    !host.includes('.') ||
    !/[a-z]/.test(host.slice(host.lastIndexOf('.') + 1));
  if (isLocal) throw invalid('Wrong HTTP URL');
  return parsed.href;
}

/** Compares keyboards the way "message is not modified" does: by content. */
export function sameInlineMarkup(
  a: InlineKeyboardMarkup | undefined,
  b: InlineKeyboardMarkup | undefined,
): boolean {
  return JSON.stringify(a?.inline_keyboard ?? []) === JSON.stringify(b?.inline_keyboard ?? []);
}
