import type { ResponseParameters } from 'grammy/types';

/** The failure body Telegram sends: `{ ok: false, error_code, description, parameters? }`. */
export interface BotApiErrorBody {
  ok: false;
  error_code: number;
  description: string;
  parameters?: ResponseParameters;
}

/**
 * A Bot API failure. Handlers throw it; the HTTP layer turns it into Telegram's body with the
 * HTTP status equal to `error_code`, which is what api.telegram.org does.
 */
export class BotApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly description: string,
    readonly parameters?: ResponseParameters,
  ) {
    super(description);
    this.name = 'BotApiError';
  }

  toBody(): BotApiErrorBody {
    return this.parameters === undefined
      ? { ok: false, error_code: this.errorCode, description: this.description }
      : { ok: false, error_code: this.errorCode, description: this.description, parameters: this.parameters };
  }
}

/**
 * Descriptions exactly as the real Bot API words them (telegram-bot-api's Client.cpp, TDLib and
 * answers recorded from api.telegram.org). Exported so tests can assert on them without retyping.
 */
export const DESCRIPTIONS = {
  notFound: 'Not Found',
  requestEntityTooLarge: 'Request Entity Too Large',
  unauthorized: 'Unauthorized',
  invalidToken: 'Unauthorized: invalid token specified',
  chatIdEmpty: 'Bad Request: chat_id is empty',
  chatIdentifierNotSpecified: 'Bad Request: chat identifier is not specified',
  chatNotFound: 'Bad Request: chat not found',
  messageTextEmpty: 'Bad Request: message text is empty',
  messageTooLong: 'Bad Request: message is too long',
  messageIdentifierNotSpecified: 'Bad Request: message identifier is not specified',
  messageIdentifiersNotSpecified: 'Bad Request: message identifiers are not specified',
  tooManyMessageIdentifiers: 'Bad Request: too many message identifiers specified',
  messageToDeleteNotFound: 'Bad Request: message to delete not found',
  messageToEditNotFound: 'Bad Request: message to edit not found',
  messageToCopyNotFound: 'Bad Request: message to copy not found',
  messageToReplyNotFound: 'Bad Request: message to be replied not found',
  /** TDLib's answer when a bot may not revoke a message any more: in private chats, 48 hours after it was sent. */
  messageCantBeDeletedForEveryone: "Bad Request: message can't be deleted for everyone",
  /** MESSAGE_DELETE_FORBIDDEN: the bot has no right to delete the message at all. */
  messageCantBeDeleted: "Bad Request: message can't be deleted",
  messageCantBeEdited: "Bad Request: message can't be edited",
  messageNotModified:
    'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
  queryTooOld: 'Bad Request: query is too old and response timeout expired or query ID is invalid',
  buttonDataInvalid: 'Bad Request: BUTTON_DATA_INVALID',
  botCommandInvalid: 'Bad Request: BOT_COMMAND_INVALID',
  botBlocked: 'Forbidden: bot was blocked by the user',
  userDeactivated: 'Forbidden: user is deactivated',
  webhookActiveConflict:
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
  terminatedBySetWebhook: 'Conflict: terminated by setWebhook request',
  invalidWebhookUrl: 'Bad Request: invalid webhook URL specified',
  secretTokenTooLong: 'Bad Request: secret token is too long',
  secretTokenUnallowedCharacters: 'Bad Request: secret token contains unallowed characters',
  webhookNeedsHttps: 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook',
  webhookPortForbidden: 'Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443',
  getUpdatesConflict:
    'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
} as const;

export function badRequest(text: string): BotApiError {
  return new BotApiError(400, `Bad Request: ${text}`);
}

export function tooManyRequests(retryAfterSeconds: number): BotApiError {
  return new BotApiError(429, `Too Many Requests: retry after ${retryAfterSeconds}`, {
    retry_after: retryAfterSeconds,
  });
}

/** The Bot API server lowercases the first letter of TDLib messages unless they look like an ERROR_CODE. */
export function tdlibError(message: string): BotApiError {
  const second = message[1] ?? '';
  const keepCase = second === '_' || (second >= 'A' && second <= 'Z');
  const text = keepCase ? message : `${message.charAt(0).toLowerCase()}${message.slice(1)}`;
  return badRequest(text);
}
