/**
 * Secrets must never reach a log line or an error message. The bot token in particular hides
 * inside Bot API URLs (`https://api.telegram.org/bot<token>/getMe`) that HTTP libraries put into
 * their error messages, so redaction works on the final text rather than on known fields.
 */

import { REDACTED, URI_PASSWORD_PATTERN } from '../db/mask-uri.js';

export { maskUri, REDACTED } from '../db/mask-uri.js';

// Telegram bot tokens: numeric bot id, colon, 30+ url-safe characters.
const BOT_TOKEN_PATTERN = /(?<!\d)\d{3,}:[A-Za-z0-9_-]{30,}/g;

export type Redactor = (text: string) => string;

export function createRedactor(secrets: ReadonlyArray<string | undefined> = []): Redactor {
  const literals = new Set<string>();
  for (const secret of secrets) {
    // Very short values would redact innocent text; real secrets are long.
    if (!secret || secret.length < 6) continue;
    literals.add(secret);
    literals.add(encodeURIComponent(secret));
  }
  const ordered = [...literals].sort((a, b) => b.length - a.length);

  return (text: string) => {
    let out = text;
    for (const literal of ordered) {
      if (out.includes(literal)) out = out.split(literal).join(REDACTED);
    }
    return out.replace(BOT_TOKEN_PATTERN, REDACTED).replace(URI_PASSWORD_PATTERN, `$1:${REDACTED}@`);
  };
}
