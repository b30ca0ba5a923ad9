/** What a secret is replaced with wherever text may reach a log line or an error. */
export const REDACTED = '[REDACTED]';

/** Credentials in connection strings: scheme://user:password@host */
export const URI_PASSWORD_PATTERN = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]+):([^@/?#\s]+)@/gi;

/** A MongoDB URI fit for a log line: the password (if any) masked. */
export function maskUri(uri: string): string {
  return uri.replace(URI_PASSWORD_PATTERN, `$1:${REDACTED}@`);
}
