import { badRequest } from './api-error.js';

/**
 * The Bot API server sees every parameter as a string, whatever the transport: a JSON body's numbers
 * become their text, booleans become "true"/"false", objects and arrays are re-encoded as JSON. The
 * handlers then parse each field the way Telegram does, so `chat_id: "42"` works and a
 * `reply_markup` may arrive either as an object or as a JSON-serialized string.
 */
export type RawParams = Record<string, string>;

export function paramsFromJsonBody(body: unknown): RawParams {
  const raw: RawParams = {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return raw;
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    raw[key] =
      typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return raw;
}

export function paramsFromSearch(search: URLSearchParams): RawParams {
  const raw: RawParams = {};
  for (const [key, value] of search) raw[key] = value;
  return raw;
}

/** td::to_integer: an optional minus and the leading digits; anything unparsable is 0. */
export function toInteger(text: string): number {
  const match = /^(-?)(\d+)/.exec(text);
  if (match === null) return 0;
  const value = Number(match[2]);
  return match[1] === '-' ? -value : value;
}

export type JsonField =
  | { present: false }
  | { present: true; value: unknown }
  | { present: true; invalid: true };

export class Params {
  constructor(readonly raw: RawParams) {}

  has(name: string): boolean {
    return Object.hasOwn(this.raw, name);
  }

  str(name: string): string {
    return this.raw[name] ?? '';
  }

  int(name: string, fallback = 0, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const text = this.str(name);
    const value = text === '' ? fallback : toInteger(text);
    return Math.min(max, Math.max(min, value));
  }

  /** Telegram's to_bool accepts "true" and "1" (any case); everything else is false. */
  bool(name: string): boolean {
    const text = this.str(name).toLowerCase();
    return text === 'true' || text === '1';
  }

  json(name: string): JsonField {
    const text = this.str(name);
    if (text === '') return { present: false };
    try {
      return { present: true, value: JSON.parse(text) as unknown };
    } catch {
      return { present: true, invalid: true };
    }
  }

  /** message_id style arguments: missing or negative means "not specified" (0), like get_message_id. */
  messageId(name = 'message_id'): number {
    const value = this.int(name);
    return Math.max(value, 0);
  }

  /** `get_required_string_arg`: the Bot API's wording for a missing string argument. */
  requiredString(name: string): string {
    const text = this.str(name);
    if (text === '') throw badRequest(`parameter "${name}" is required`);
    return text;
  }
}

/** Reads td::JsonObject fields with TDLib's own error wording (callers prefix the context). */
export class JsonObjectReader {
  constructor(readonly object: Record<string, unknown>) {}

  static from(value: unknown, whatMustBeObject: string): JsonObjectReader {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error(whatMustBeObject);
    return new JsonObjectReader(value as Record<string, unknown>);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.object, name) && this.object[name] !== null;
  }

  optionalString(name: string): string {
    const value = this.object[name];
    if (value === undefined || value === null) return '';
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
    throw new Error(`Field "${name}" must be of type String`);
  }

  requiredString(name: string): string {
    if (!this.has(name)) throw new Error(`Can't find field "${name}"`);
    return this.optionalString(name);
  }

  optionalBool(name: string): boolean {
    const value = this.object[name];
    if (value === undefined || value === null) return false;
    if (typeof value === 'boolean') return value;
    throw new Error(`Field "${name}" must be of type Boolean`);
  }

  requiredInt(name: string): number {
    if (!this.has(name)) throw new Error(`Can't find field "${name}"`);
    const value = this.object[name];
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
    throw new Error(`Field "${name}" must be a valid Number`);
  }
}
