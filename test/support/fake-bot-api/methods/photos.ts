import { BotApiError, badRequest } from '../api-error.js';
import { formatMessageText } from '../message-text.js';
import { inputFile, jpegSize, pngSize } from '../multipart.js';
import { parseReplyMarkup } from '../reply-markup.js';
import { assertNotBlocked, resolveChat } from './chat-access.js';
import { type MethodContext, nowSeconds } from './context.js';

/** Telegram's limits for a photo sent by upload (Bot API sendPhoto). */
export const PHOTO_LIMITS = { maxBytes: 10 * 1024 * 1024, maxWidthPlusHeight: 10_000, maxRatio: 20 } as const;
export const CAPTION_MAX_LENGTH = 1024;

export const PHOTO_DESCRIPTIONS = {
  noPhoto: 'Bad Request: there is no photo in the request',
  captionTooLong: 'Bad Request: message caption is too long',
  invalidDimensions: 'Bad Request: PHOTO_INVALID_DIMENSIONS',
  tooBig: 'Bad Request: PHOTO_SAVE_FILE_INVALID',
  notAnImage: 'Bad Request: IMAGE_PROCESS_FAILED',
  wrongFileId: 'Bad Request: wrong file identifier/HTTP URL specified',
} as const;

/**
 * sendPhoto with an uploaded PNG or JPEG (or the file_id of one uploaded before), checked like
 * Telegram checks it: at most 10 MB, width + height at most 10000, sides at most 20 to 1, a
 * caption of at most 1024 characters. The bytes are kept; tests read them back by file_id.
 */
export function sendPhoto({ state, params, files }: MethodContext) {
  const caption = params.str('caption');
  const formatted =
    caption === ''
      ? { text: '', entities: [] }
      : formatMessageText(caption, params.str('parse_mode'), params.str('caption_entities'));
  if (Array.from(formatted.text).length > CAPTION_MAX_LENGTH)
    throw new BotApiError(400, PHOTO_DESCRIPTIONS.captionTooLong);
  const markup = parseReplyMarkup(params);
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  const photo = inputFile(params.raw, files, 'photo');
  if (photo === undefined) throw new BotApiError(400, PHOTO_DESCRIPTIONS.noPhoto);
  let stored: { fileId: string; uniqueId: string; width: number; height: number; size: number };
  if (typeof photo === 'string') {
    const bytes = state.files.get(photo);
    if (bytes === undefined) {
      if (/^https?:\/\//.test(photo)) throw badRequest('URLs are not fetched by the fake Bot API');
      throw new BotApiError(400, PHOTO_DESCRIPTIONS.wrongFileId);
    }
    const size = pngSize(bytes) ?? jpegSize(bytes) ?? { width: 0, height: 0 };
    stored = { fileId: photo, uniqueId: state.files.uniqueId(photo) ?? photo, ...size, size: bytes.length };
  } else {
    if (photo.bytes.length > PHOTO_LIMITS.maxBytes) throw new BotApiError(400, PHOTO_DESCRIPTIONS.tooBig);
    const size = pngSize(photo.bytes) ?? jpegSize(photo.bytes);
    if (size === undefined) throw new BotApiError(400, PHOTO_DESCRIPTIONS.notAnImage);
    const { width, height } = size;
    if (
      width === 0 ||
      height === 0 ||
      width + height > PHOTO_LIMITS.maxWidthPlusHeight ||
      Math.max(width, height) / Math.min(width, height) > PHOTO_LIMITS.maxRatio
    ) {
      throw new BotApiError(400, PHOTO_DESCRIPTIONS.invalidDimensions);
    }
    stored = { ...state.files.add(photo.bytes), width, height, size: photo.bytes.length };
  }
  assertNotBlocked(chat);
  const message = state.store.add(chat, {
    sender: undefined,
    text: formatted.text,
    entities: formatted.entities,
    ...(markup.inline === undefined ? {} : { replyMarkup: markup.inline }),
    date: nowSeconds(state),
    hasProtectedContent: params.bool('protect_content'),
  });
  message.photo = {
    file_id: stored.fileId,
    file_unique_id: stored.uniqueId,
    width: stored.width,
    height: stored.height,
    file_size: stored.size,
  };
  return state.store.toJson(message);
}
