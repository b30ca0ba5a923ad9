/**
 * Everything users type reaches the database only through these parsers, as a plain number or a
 * string of known shape. A refusal says what was wrong and shows a correct example.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const MAX_ECHO = 40;

/** User input quoted back safely: single line, bounded length, never half a character. */
export function quote(input: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  const oneLine = input.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  // Cut by code points: cutting UTF-16 units can split an emoji, and Telegram refuses text with
  // half a surrogate pair.
  const chars = Array.from(oneLine);
  return `“${chars.length > MAX_ECHO ? `${chars.slice(0, MAX_ECHO).join('')}…` : oneLine}”`;
}

/** Minutes from `10`, `10m`, `2h`, `1h30m` (also `1h 30m`). */
export function parseDuration(
  input: string,
  bounds: { minMinutes: number; maxMinutes: number },
): Parsed<number> {
  const text = input.trim().toLowerCase();
  const example = 'Use minutes like 10, or 10m, 2h, 1h30m.';
  if (text === '') return { ok: false, message: `A duration is missing. ${example}` };
  let minutes: number | undefined;
  if (/^\d{1,6}$/.test(text)) {
    minutes = Number(text);
  } else {
    const match = /^(?:(\d{1,4})\s*h)?\s*(?:(\d{1,6})\s*m)?$/.exec(text);
    if (match && (match[1] !== undefined || match[2] !== undefined)) {
      minutes = Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
    }
  }
  if (minutes === undefined) return { ok: false, message: `${quote(input)} is not a duration. ${example}` };
  if (minutes < bounds.minMinutes || minutes > bounds.maxMinutes) {
    return {
      ok: false,
      message: `The duration must be between ${formatMinutes(bounds.minMinutes)} and ${formatMinutes(bounds.maxMinutes)}; ${quote(input)} is ${formatMinutes(minutes)}.`,
    };
  }
  return { ok: true, value: minutes };
}

/** A Telegram user id: a positive whole number. */
export function parseUserId(input: string): Parsed<number> {
  const text = input.trim();
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) === 0) {
    return {
      ok: false,
      message: `${quote(input)} is not a Telegram user id. It is a number, e.g. 123456789.`,
    };
  }
  return { ok: true, value: Number(text) };
}

/** Whole days between 1 and `max`. */
export function parseDays(input: string, max: number): Parsed<number> {
  const text = input.trim();
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    return {
      ok: false,
      message: `${quote(input)} is not a number of days. Use a whole number from 1 to ${max}, e.g. 7.`,
    };
  }
  return { ok: true, value: Number(text) };
}

/** Splits command arguments on whitespace. */
export function args(match: string | undefined): string[] {
  const text = (match ?? '').trim();
  return text === '' ? [] : text.split(/\s+/);
}

export function formatMinutes(total: number): string {
  const hours = Math.floor(total / 60);
  const minutes = total % 60;
  const parts: string[] = [];
  if (hours > 0) parts.push(`${hours} hour${hours === 1 ? '' : 's'}`);
  if (minutes > 0 || hours === 0) parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/** Why a lifetime has a maximum at all: Telegram lets bots delete messages only for 48 hours. */
export function safeMaximumNote(maxMinutes: number): string {
  return `The longest is ${formatMinutes(maxMinutes)}: Telegram lets the bot delete messages only for 48 hours, and the deletion must land inside them.`;
}
