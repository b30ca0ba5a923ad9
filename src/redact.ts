/**
 * Secrets must never reach a log line or an error message. The bot token in particular hides
 * inside Bot API URLs (`https://api.telegram.org/bot<token>/getMe`) that HTTP libraries put into
 * their error messages, so redaction works on the final text rather than on known fields.
 */

export const REDACTED = '[REDACTED]';

// Telegram bot tokens: numeric bot id, colon, 30+ url-safe characters.
const BOT_TOKEN_PATTERN = /(?<!\d)\d{3,}:[A-Za-z0-9_-]{30,}/g;
// Credentials in connection strings: scheme://user:password@host
const URI_PASSWORD_PATTERN = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]+):([^@/?#\s]+)@/gi;

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

/** A MongoDB URI fit for a log line: the password (if any) masked. */
export function maskUri(uri: string): string {
  return uri.replace(URI_PASSWORD_PATTERN, `$1:${REDACTED}@`);
}
