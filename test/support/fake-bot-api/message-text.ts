import type { MessageEntity } from 'grammy/types';
import { BotApiError, badRequest, DESCRIPTIONS, tdlibError } from './api-error.js';
import { JsonObjectReader } from './request-params.js';

export interface FormattedText {
  text: string;
  entities: MessageEntity[];
}

/** Telegram's limit on a text message, counted after entity parsing. */
export const MAX_MESSAGE_TEXT_LENGTH = 4096;

/**
 * Turns sendMessage/editMessageText's text arguments into the stored text and entities the way the
 * Bot API does: parse_mode or explicit entities first, then TDLib strips surrounding whitespace,
 * rejects empty and over-long texts and adds the entities it detects itself (bot commands, URLs).
 */
export function formatMessageText(rawText: string, parseMode: string, entitiesParam: string): FormattedText {
  if (rawText === '') throw new BotApiError(400, DESCRIPTIONS.messageTextEmpty);
  const mode = parseMode.toLowerCase();
  let parsed: FormattedText;
  if (mode === '' || mode === 'none') {
    parsed = { text: rawText, entities: explicitEntities(entitiesParam) };
  } else if (mode === 'html') {
    parsed = parseHtml(rawText);
  } else if (mode === 'markdown' || mode === 'markdownv2') {
    // Accepting Markdown without implementing its escaping rules would let tests pass on texts
    // Telegram rejects ("Character '.' is reserved..."), so the fake refuses loudly instead.
    throw badRequest(`parse_mode ${parseMode} is not supported by the fake Bot API; use HTML`);
  } else {
    throw badRequest('unsupported parse_mode');
  }
  const trimmed = trimText(parsed);
  if (trimmed.text === '') throw new BotApiError(400, DESCRIPTIONS.messageTextEmpty);
  if (trimmed.text.length > MAX_MESSAGE_TEXT_LENGTH) throw new BotApiError(400, DESCRIPTIONS.messageTooLong);
  return { text: trimmed.text, entities: withDetectedEntities(trimmed.text, trimmed.entities) };
}

/** Text typed by a simulated user: Telegram clients send it plain; the server detects entities. */
export function userText(text: string): FormattedText {
  return { text, entities: withDetectedEntities(text, []) };
}

function trimText({ text, entities }: FormattedText): FormattedText {
  const lead = (/^\s*/.exec(text)?.[0] ?? '').length;
  const end = text.length - (/\s*$/.exec(text.slice(lead))?.[0] ?? '').length;
  if (lead === 0 && end === text.length) return { text, entities };
  const kept: MessageEntity[] = [];
  for (const entity of entities) {
    const start = Math.max(entity.offset, lead);
    const stop = Math.min(entity.offset + entity.length, end);
    if (stop > start) kept.push({ ...entity, offset: start - lead, length: stop - start });
  }
  return { text: text.slice(lead, end), entities: kept };
}

function explicitEntities(entitiesParam: string): MessageEntity[] {
  if (entitiesParam === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(entitiesParam);
  } catch {
    // The Bot API silently ignores entities it cannot decode (get_input_entities).
    return [];
  }
  if (!Array.isArray(value)) return [];
  const result: MessageEntity[] = [];
  for (const item of value) {
    try {
      const entity = readEntity(item);
      if (entity !== undefined) result.push(entity);
    } catch (error) {
      throw tdlibError(`Can't parse MessageEntity: ${(error as Error).message}`);
    }
  }
  return sortEntities(result);
}

const DETECTED_TYPES = new Set([
  'mention',
  'hashtag',
  'cashtag',
  'bot_command',
  'url',
  'email',
  'phone_number',
  'bank_card_number',
]);
const PLAIN_TYPES = new Set([
  'bold',
  'italic',
  'underline',
  'strikethrough',
  'spoiler',
  'code',
  'blockquote',
  'expandable_blockquote',
]);

function readEntity(item: unknown): MessageEntity | undefined {
  const object = JsonObjectReader.from(item, 'expected an Object');
  const offset = object.requiredInt('offset');
  const length = object.requiredInt('length');
  const type = object.requiredString('type');
  if (type === '') throw new Error('Type is not specified');
  // Telegram drops entities it detects itself and finds them again in the final text.
  if (DETECTED_TYPES.has(type)) return undefined;
  if (PLAIN_TYPES.has(type)) return { type, offset, length } as MessageEntity;
  if (type === 'pre') {
    const language = object.optionalString('language');
    return language === '' ? { type, offset, length } : { type, offset, length, language };
  }
  if (type === 'text_link') return { type, offset, length, url: object.requiredString('url') };
  if (type === 'custom_emoji') {
    return { type, offset, length, custom_emoji_id: object.requiredString('custom_emoji_id') };
  }
  if (type === 'text_mention') {
    if (!object.has('user')) throw new Error(`Can't find field "user"`);
    const user = JsonObjectReader.from(object.object.user, 'Field "user" must be of type Object');
    const id = user.requiredInt('id');
    return {
      type,
      offset,
      length,
      user: { id, is_bot: false, first_name: user.optionalString('first_name') },
    };
  }
  throw new Error('Unsupported type specified');
}

function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

// --- Entities Telegram detects in any message text -------------------------------------------

const BOT_COMMAND = /(?<![A-Za-z0-9_/.@])\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_/@])/g;
const URL = /(?<![A-Za-z0-9_@/.])https?:\/\/[^\s<>"]+/gi;

function withDetectedEntities(text: string, entities: MessageEntity[]): MessageEntity[] {
  // TDLib does not look for commands or links inside code, pre blocks or existing links.
  const opaque = entities.filter((e) => e.type === 'code' || e.type === 'pre' || e.type === 'text_link');
  const overlapsOpaque = (offset: number, length: number) =>
    opaque.some((e) => offset < e.offset + e.length && e.offset < offset + length);
  const detected: MessageEntity[] = [];
  for (const match of text.matchAll(BOT_COMMAND)) {
    if (!overlapsOpaque(match.index, match[0].length)) {
      detected.push({ type: 'bot_command', offset: match.index, length: match[0].length });
    }
  }
  for (const match of text.matchAll(URL)) {
    const url = match[0].replace(/[.,;:!?)'\]]+$/, '');
    if (!overlapsOpaque(match.index, url.length)) {
      detected.push({ type: 'url', offset: match.index, length: url.length });
    }
  }
  return detected.length === 0 ? entities : sortEntities([...entities, ...detected]);
}

// --- parse_mode HTML ---------------------------------------------------------------------------

const SUPPORTED_TAGS = new Set([
  'a',
  'b',
  'strong',
  'i',
  'em',
  's',
  'strike',
  'del',
  'u',
  'ins',
  'tg-spoiler',
  'tg-emoji',
  'span',
  'pre',
  'code',
  'blockquote',
]);

interface OpenTag {
  name: string;
  start: number;
  attributes: Map<string, string>;
  /** A `<code class="language-x">` directly inside `<pre>` only sets the pre block's language. */
  absorbedIntoPre: boolean;
  preLanguage?: string;
}

function cantParse(message: string): BotApiError {
  return badRequest(`can't parse entities: ${message}`);
}

function byteOffset(input: string, index: number): number {
  return Buffer.byteLength(input.slice(0, index), 'utf8');
}

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

function decodeCharacterEntity(input: string, at: number): { text: string; end: number } | undefined {
  const match = /^&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/.exec(input.slice(at, at + 12));
  if (match === null) return undefined;
  const body = match[1] ?? '';
  let text: string | undefined;
  if (body.startsWith('#x') || body.startsWith('#X'))
    text = String.fromCodePoint(Number.parseInt(body.slice(2), 16));
  else if (body.startsWith('#')) text = String.fromCodePoint(Number.parseInt(body.slice(1), 10));
  else text = NAMED_ENTITIES[body];
  return text === undefined ? undefined : { text, end: at + match[0].length };
}

/**
 * A port of the rules of TDLib's parse_html: the supported tags, their attributes, entity escapes
 * and the error texts (with UTF-8 byte offsets) Telegram answers for malformed markup.
 */
export function parseHtml(input: string): FormattedText {
  let out = '';
  const entities: MessageEntity[] = [];
  const stack: OpenTag[] = [];
  let i = 0;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\n' || c === '\t' || c === '\r';

  while (i < input.length) {
    const ch = input[i] as string;
    if (ch === '&') {
      const decoded = decodeCharacterEntity(input, i);
      out += decoded?.text ?? '&';
      i = decoded?.end ?? i + 1;
      continue;
    }
    if (ch !== '<') {
      out += ch;
      i++;
      continue;
    }
    const tagOffset = byteOffset(input, i);
    i++;
    if (input[i] === '/') {
      i++;
      const close = input.indexOf('>', i);
      if (close === -1) throw cantParse(`Unclosed end tag at byte offset ${tagOffset}`);
      const name = input.slice(i, close).trim().toLowerCase();
      i = close + 1;
      const open = stack.pop();
      if (open === undefined) throw cantParse(`Unexpected end tag at byte offset ${tagOffset}`);
      if (open.name !== name) {
        throw cantParse(
          `Unmatched end tag at byte offset ${tagOffset}, expected "</${open.name}>", found "</${name}>"`,
        );
      }
      const entity = entityForTag(open, out.length);
      if (entity !== undefined) entities.push(entity);
      continue;
    }

    let name = '';
    while (i < input.length && !isSpace(input[i]) && input[i] !== '>') name += input[i++];
    name = name.toLowerCase();
    if (!SUPPORTED_TAGS.has(name))
      throw cantParse(`Unsupported start tag "${name}" at byte offset ${tagOffset}`);
    const attributes = new Map<string, string>();
    for (;;) {
      while (isSpace(input[i])) i++;
      if (i >= input.length) throw cantParse(`Unclosed start tag at byte offset ${tagOffset}`);
      if (input[i] === '>') {
        i++;
        break;
      }
      let attribute = '';
      while (i < input.length && /[A-Za-z0-9_-]/.test(input[i] as string)) attribute += input[i++];
      if (attribute === '')
        throw cantParse(`Empty attribute name in the tag "${name}" at byte offset ${tagOffset}`);
      while (isSpace(input[i])) i++;
      if (input[i] !== '=') {
        attributes.set(attribute.toLowerCase(), '');
        continue;
      }
      i++;
      while (isSpace(input[i])) i++;
      let value = '';
      const quote = input[i];
      if (quote === '"' || quote === "'") {
        const end = input.indexOf(quote, i + 1);
        if (end === -1) throw cantParse(`Unclosed start tag at byte offset ${tagOffset}`);
        value = decodeAttribute(input.slice(i + 1, end));
        i = end + 1;
      } else {
        while (i < input.length && !isSpace(input[i]) && input[i] !== '>') value += input[i++];
        value = decodeAttribute(value);
      }
      attributes.set(attribute.toLowerCase(), value);
    }
    if (name === 'span' && attributes.get('class') !== 'tg-spoiler') {
      throw cantParse('Tag "span" must have class "tg-spoiler"');
    }
    const parent = stack.at(-1);
    const language = attributes.get('class');
    const absorbedIntoPre =
      name === 'code' &&
      parent?.name === 'pre' &&
      parent.start === out.length &&
      language?.startsWith('language-') === true;
    if (absorbedIntoPre && parent !== undefined && language !== undefined) {
      parent.preLanguage = language.slice('language-'.length);
    }
    stack.push({ name, start: out.length, attributes, absorbedIntoPre });
  }
  const unclosed = stack.at(-1);
  if (unclosed !== undefined)
    throw cantParse(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  return { text: out, entities: sortEntities(entities) };
}

function decodeAttribute(value: string): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const decoded = value[i] === '&' ? decodeCharacterEntity(value, i) : undefined;
    out += decoded?.text ?? value[i];
    i = decoded?.end ?? i + 1;
  }
  return out;
}

function entityForTag(tag: OpenTag, end: number): MessageEntity | undefined {
  const offset = tag.start;
  const length = end - tag.start;
  if (length <= 0 || tag.absorbedIntoPre) return undefined;
  switch (tag.name) {
    case 'b':
    case 'strong':
      return { type: 'bold', offset, length };
    case 'i':
    case 'em':
      return { type: 'italic', offset, length };
    case 'u':
    case 'ins':
      return { type: 'underline', offset, length };
    case 's':
    case 'strike':
    case 'del':
      return { type: 'strikethrough', offset, length };
    case 'tg-spoiler':
    case 'span':
      return { type: 'spoiler', offset, length };
    case 'code':
      return { type: 'code', offset, length };
    case 'pre':
      return tag.preLanguage === undefined
        ? { type: 'pre', offset, length }
        : { type: 'pre', offset, length, language: tag.preLanguage };
    case 'blockquote':
      return {
        type: tag.attributes.has('expandable') ? 'expandable_blockquote' : 'blockquote',
        offset,
        length,
      };
    case 'tg-emoji': {
      const id = tag.attributes.get('emoji-id') ?? '';
      return id === '' ? undefined : { type: 'custom_emoji', offset, length, custom_emoji_id: id };
    }
    case 'a': {
      const url = tag.attributes.get('href') ?? '';
      return url === '' ? undefined : { type: 'text_link', offset, length, url };
    }
    default:
      return undefined;
  }
}

/** Telegram compares texts with entities when deciding "message is not modified". */
export function sameFormattedText(a: FormattedText, b: FormattedText): boolean {
  return a.text === b.text && JSON.stringify(a.entities) === JSON.stringify(b.entities);
}
