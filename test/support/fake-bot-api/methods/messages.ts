import type { InlineKeyboardMarkup, Message, MessageId } from 'grammy/types';
import { BotApiError, badRequest, DESCRIPTIONS, tdlibError } from '../api-error.js';
import type { ChatRecord } from '../chat-store.js';
import { formatMessageText, sameFormattedText } from '../message-text.js';
import { parseReplyMarkup, sameInlineMarkup } from '../reply-markup.js';
import { JsonObjectReader, type Params } from '../request-params.js';
import { assertNotBlocked, resolveChat } from './chat-access.js';
import { type FakeBotState, type MethodContext, nowSeconds } from './context.js';

interface ReplyParameters {
  messageId: number;
  chatIdText: string;
  allowSendingWithoutReply: boolean;
}

/** get_reply_parameters: the JSON object, or the legacy reply_to_message_id arguments. */
function parseReplyParameters(params: Params): ReplyParameters {
  if (!params.has('reply_parameters')) {
    return {
      messageId: params.messageId('reply_to_message_id'),
      chatIdText: '',
      allowSendingWithoutReply: params.bool('allow_sending_without_reply'),
    };
  }
  const field = params.json('reply_parameters');
  if (!field.present) return { messageId: 0, chatIdText: '', allowSendingWithoutReply: false };
  if ('invalid' in field) throw tdlibError("Can't parse reply parameters JSON object");
  try {
    const object = JsonObjectReader.from(field.value, 'Object expected as reply parameters');
    if (Object.keys(object.object).length === 0)
      return { messageId: 0, chatIdText: '', allowSendingWithoutReply: false };
    return {
      chatIdText: object.optionalString('chat_id'),
      messageId: Math.max(0, object.requiredInt('message_id')),
      allowSendingWithoutReply: object.optionalBool('allow_sending_without_reply'),
    };
  } catch (error) {
    throw tdlibError((error as Error).message);
  }
}

function parseLinkPreviewOptions(params: Params): void {
  const field = params.json('link_preview_options');
  if (!field.present) return;
  if ('invalid' in field) throw tdlibError("Can't parse link preview options JSON object");
  if (field.value === null || typeof field.value !== 'object' || Array.isArray(field.value)) {
    throw tdlibError('Object expected as link preview options');
  }
}

/** The message being replied to, if it is in the same chat; refuses a missing one like Telegram. */
function checkReply(state: FakeBotState, chat: ChatRecord, reply: ReplyParameters): number | undefined {
  if (reply.messageId <= 0) return undefined;
  const replyChat = reply.chatIdText === '' ? chat : resolveChat(state, reply.chatIdText, 'read');
  const replied = state.store.visibleMessage(replyChat.id, reply.messageId);
  if (replied === undefined) {
    if (reply.allowSendingWithoutReply) return undefined;
    throw new BotApiError(400, DESCRIPTIONS.messageToReplyNotFound);
  }
  // A reply into another chat becomes external_reply on Telegram, which the fake does not simulate.
  return replyChat.id === chat.id ? replied.messageId : undefined;
}

export function sendMessage({ state, params }: MethodContext) {
  parseLinkPreviewOptions(params);
  const text = formatMessageText(params.str('text'), params.str('parse_mode'), params.str('entities'));
  const reply = parseReplyParameters(params);
  const markup = parseReplyMarkup(params);
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  const replyToMessageId = checkReply(state, chat, reply);
  assertNotBlocked(chat);
  const message = state.store.add(chat, {
    sender: undefined,
    text: text.text,
    entities: text.entities,
    ...(markup.inline === undefined ? {} : { replyMarkup: markup.inline }),
    date: nowSeconds(state),
    ...(replyToMessageId === undefined ? {} : { replyToMessageId }),
    hasProtectedContent: params.bool('protect_content'),
  });
  return state.store.toJson(message);
}

export function copyMessage({ state, params }: MethodContext): MessageId {
  const fromChatIdText = params.requiredString('from_chat_id');
  const messageId = params.messageId();
  const sourceChat = resolveChat(state, fromChatIdText, 'read');
  const source = state.store.visibleMessage(sourceChat.id, messageId);
  if (source === undefined) throw new BotApiError(400, DESCRIPTIONS.messageToCopyNotFound);

  const reply = parseReplyParameters(params);
  const markup = parseReplyMarkup(params);
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  const replyToMessageId = checkReply(state, chat, reply);
  assertNotBlocked(chat);
  // The copy's keyboard is the one passed to copyMessage; the original's keyboard is not carried over.
  const copy = state.store.add(chat, {
    sender: undefined,
    text: source.text,
    ...(source.entities === undefined ? {} : { entities: source.entities }),
    ...(markup.inline === undefined ? {} : { replyMarkup: markup.inline }),
    date: nowSeconds(state),
    ...(replyToMessageId === undefined ? {} : { replyToMessageId }),
    copiedFrom: { chatId: sourceChat.id, messageId: source.messageId },
    hasProtectedContent: params.bool('protect_content'),
  });
  return { message_id: copy.messageId };
}

/** check_message for edits, including the inline_message_id branch the fake does not simulate. */
function messageToEdit({ state, params }: MethodContext) {
  const chatIdText = params.str('chat_id');
  const messageId = params.messageId();
  if (chatIdText === '' && messageId === 0) {
    if (params.str('inline_message_id') === '')
      throw new BotApiError(400, DESCRIPTIONS.messageIdentifierNotSpecified);
    throw badRequest('inline messages are not simulated by the fake Bot API');
  }
  const chat = resolveChat(state, chatIdText, 'write');
  const message = state.store.visibleMessage(chat.id, messageId);
  if (message === undefined) throw new BotApiError(400, DESCRIPTIONS.messageToEditNotFound);
  if (!message.fromBot) throw new BotApiError(400, DESCRIPTIONS.messageCantBeEdited);
  return message;
}

function inlineMarkupForEdit(params: Params): InlineKeyboardMarkup | undefined {
  const markup = parseReplyMarkup(params);
  if (markup.kind !== 'none' && markup.kind !== 'inline') throw tdlibError('Inline keyboard expected');
  return markup.inline;
}

export function editMessageText(context: MethodContext) {
  const { state, params } = context;
  parseLinkPreviewOptions(params);
  const text = formatMessageText(params.str('text'), params.str('parse_mode'), params.str('entities'));
  const markup = inlineMarkupForEdit(params);
  const message = messageToEdit(context);
  // Leaving reply_markup out of an edit removes the keyboard, so it is part of the comparison.
  const current = { text: message.text, entities: message.entities ?? [] };
  if (sameFormattedText(current, text) && sameInlineMarkup(message.replyMarkup, markup)) {
    throw new BotApiError(400, DESCRIPTIONS.messageNotModified);
  }
  message.text = text.text;
  message.entities = text.entities;
  message.replyMarkup = markup;
  message.editDate = nowSeconds(state);
  return state.store.toJson(message);
}

export function editMessageReplyMarkup(context: MethodContext) {
  const { state, params } = context;
  const markup = inlineMarkupForEdit(params);
  const message = messageToEdit(context);
  if (sameInlineMarkup(message.replyMarkup, markup))
    throw new BotApiError(400, DESCRIPTIONS.messageNotModified);
  message.replyMarkup = markup;
  message.editDate = nowSeconds(state);
  return state.store.toJson(message);
}

const CHAT_ACTIONS = new Set([
  'cancel',
  'typing',
  'record_video',
  'upload_video',
  'record_audio',
  'record_voice',
  'upload_audio',
  'upload_voice',
  'upload_photo',
  'upload_document',
  'choose_sticker',
  'pick_up_location',
  'find_location',
  'record_video_note',
  'upload_video_note',
]);

export function sendChatAction({ state, params }: MethodContext): true {
  if (!CHAT_ACTIONS.has(params.str('action').toLowerCase())) {
    throw badRequest('wrong parameter action in request');
  }
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  assertNotBlocked(chat);
  return true;
}

/**
 * sendDocument with an uploaded file: `document` is a file part itself or `attach://<name>` of one
 * (grammY sends the latter). A file_id or URL is not simulated (Telegram would look it up), so it
 * answers as an unknown one does. The caption is plain text here (no parse_mode).
 */
export function sendDocument({ state, params, files }: MethodContext) {
  const chat = resolveChat(state, params.str('chat_id'), 'write');
  const reference = params.str('document');
  const upload =
    files?.get('document') ??
    (reference.startsWith('attach://') ? files?.get(reference.slice('attach://'.length)) : undefined);
  if (upload === undefined) {
    if (reference === '' || reference.startsWith('attach://'))
      throw tdlibError('There is no document in the request');
    throw badRequest('wrong file identifier/HTTP URL specified');
  }
  if (upload.bytes.length === 0) throw badRequest('file must be non-empty');
  const caption = params.str('caption');
  if (caption.length > 1024) throw badRequest('message caption is too long');
  assertNotBlocked(chat);
  const message = state.store.add(chat, {
    sender: undefined,
    text: caption,
    date: nowSeconds(state),
    hasProtectedContent: params.bool('protect_content'),
  });
  state.documents.push({
    chatId: chat.id,
    messageId: message.messageId,
    fileName: upload.filename,
    bytes: upload.bytes,
    caption,
  });
  const fileUniqueId = `doc${state.documents.length}`;
  // A document message carries its caption instead of a text (the store keeps it as the text).
  const {
    text: _text,
    entities: _entities,
    ...json
  } = state.store.toJson(message) as Message & {
    text?: string;
    entities?: unknown;
  };
  return {
    ...json,
    ...(caption === '' ? {} : { caption }),
    document: {
      file_id: `BQACAgIAAx${fileUniqueId}`,
      file_unique_id: fileUniqueId,
      file_name: upload.filename,
      file_size: upload.bytes.length,
    },
  };
}
