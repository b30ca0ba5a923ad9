import { GrammyError, HttpError } from 'grammy';

/**
 * What a failed Bot API call means for the caller. Telegram reports errors as a status code plus a
 * free-text description; these classes are the distinctions the jobs act on.
 */
export type TelegramFailure =
  /** The message is already gone: the goal is reached. */
  | 'not_found'
  /** Telegram refuses for good (older than 48 hours, no rights): retrying cannot help. */
  | 'cannot_delete'
  /** The user blocked the bot, the account is gone, or the chat does not exist: stop talking to it. */
  | 'unreachable'
  /** The Bot API server does not implement the method (older or self-hosted servers). */
  | 'method_unsupported'
  /** 429 that outlasted the automatic waits. */
  | 'rate_limited'
  /** 5xx or a network failure: try again later. */
  | 'transient'
  /** Any other 4xx: our request is wrong; retrying the same request cannot help. */
  | 'rejected';

const UNREACHABLE = [
  /bot was blocked by the user/i,
  /user is deactivated/i,
  /chat not found/i,
  /bot was kicked/i,
  /bot is not a member/i,
  /bot can't initiate conversation/i,
  /peer_id_invalid/i,
  /group chat was deleted/i,
];

export function classifyTelegramError(error: unknown): TelegramFailure {
  if (error instanceof HttpError) return 'transient';
  if (!(error instanceof GrammyError)) return 'transient';
  const description = error.description;
  if (error.error_code === 429) return 'rate_limited';
  if (error.error_code >= 500) return 'transient';
  if (/message to delete not found/i.test(description)) return 'not_found';
  if (/message can'?t be deleted/i.test(description)) return 'cannot_delete';
  if (error.error_code === 403 || UNREACHABLE.some((pattern) => pattern.test(description)))
    return 'unreachable';
  if (isMethodUnsupported(error)) return 'method_unsupported';
  return 'rejected';
}

function isMethodUnsupported(error: GrammyError): boolean {
  if (/method not found|unknown method|not supported|unsupported/i.test(error.description)) return true;
  // Telegram (and telegram-bot-api builds that predate a method) answer a bare 404 "Not Found".
  return error.error_code === 404;
}

/** A short description for logs and run history (never includes the request URL). */
export function describeTelegramError(error: unknown): string {
  if (error instanceof GrammyError) return `${error.error_code} ${error.description}`;
  if (error instanceof HttpError) return `network: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
