/**
 * Deep links (`https://t.me/<bot>?start=<payload>`) carry everything a user can open: saved content
 * and verification tokens. Telegram allows 1-64 characters from A-Z, a-z, 0-9, _ and - in a payload.
 */

const CONTENT_PREFIX = 'c_';
const VERIFY_PREFIX = 'v_';
const ID_PATTERN = /^[A-Za-z0-9_-]{8,40}$/;

export type StartPayload =
  | { kind: 'none' }
  | { kind: 'content'; contentId: string }
  | { kind: 'verify'; token: string }
  | { kind: 'invalid'; reason: string };

export function deepLink(botUsername: string, payload: string): string {
  return `https://t.me/${botUsername}?start=${payload}`;
}

export function contentLink(botUsername: string, contentId: string): string {
  return deepLink(botUsername, `${CONTENT_PREFIX}${contentId}`);
}

export function verifyLink(botUsername: string, token: string): string {
  return deepLink(botUsername, `${VERIFY_PREFIX}${token}`);
}

/** Reads what `/start <payload>` asks for; anything unexpected is `invalid`, never passed on. */
export function parseStartPayload(raw: string | undefined): StartPayload {
  const payload = (raw ?? '').trim();
  if (payload === '') return { kind: 'none' };
  if (payload.length > 64 || !/^[A-Za-z0-9_-]+$/.test(payload)) {
    return { kind: 'invalid', reason: 'a link payload is at most 64 letters, digits, _ or -' };
  }
  if (payload.startsWith(CONTENT_PREFIX)) {
    const contentId = payload.slice(CONTENT_PREFIX.length);
    return ID_PATTERN.test(contentId)
      ? { kind: 'content', contentId }
      : { kind: 'invalid', reason: 'malformed content link' };
  }
  if (payload.startsWith(VERIFY_PREFIX)) {
    const token = payload.slice(VERIFY_PREFIX.length);
    return ID_PATTERN.test(token)
      ? { kind: 'verify', token }
      : { kind: 'invalid', reason: 'malformed verification link' };
  }
  return { kind: 'invalid', reason: 'unknown link type' };
}
