import { BotApiError, DESCRIPTIONS } from '../api-error.js';
import type { MethodContext } from './context.js';

/** Unknown, already answered and expired queries all get Telegram's QUERY_ID_INVALID answer. */
export function answerCallbackQuery({ state, params }: MethodContext): true {
  const query = state.callbacks.get(params.str('callback_query_id'));
  const now = state.nowMs();
  if (
    query === undefined ||
    query.answer !== undefined ||
    now - query.pressedAt > state.callbackAnswerWindowMs
  ) {
    throw new BotApiError(400, DESCRIPTIONS.queryTooOld);
  }
  const text = params.str('text');
  const url = params.str('url');
  query.answer = {
    ...(text === '' ? {} : { text }),
    showAlert: params.bool('show_alert'),
    ...(url === '' ? {} : { url }),
    cacheTime: params.int('cache_time', 0, 0, 30 * 24 * 60 * 60),
    answeredAt: now,
  };
  return true;
}
