import type { Update, UserFromGetMe, WebhookInfo } from 'grammy/types';
import { getMeJson } from '../telegram-objects.js';
import { type MethodContext, ResultWithDescription } from './context.js';

/** telegram-bot-api clamps long-poll timeouts to this many seconds. */
const LONG_POLL_MAX_TIMEOUT = 50;

export function getMe({ state }: MethodContext): UserFromGetMe {
  return getMeJson(state.bot);
}

export function getUpdates({ state, params, signal }: MethodContext): Promise<Update[]> {
  const offset = params.int('offset', 0);
  const limit = params.int('limit', 100, 1, 100);
  const timeout = params.int('timeout', 0, 0, LONG_POLL_MAX_TIMEOUT);
  const allowed = params.json('allowed_updates');
  if (allowed.present && 'value' in allowed) state.updates.setAllowedUpdates(allowed.value);
  return state.updates.getUpdates(offset, limit, timeout, signal);
}

/** The fake has no webhook, so deleting it is the "already deleted" answer grammY gets on start. */
export function deleteWebhook({ state, params }: MethodContext): ResultWithDescription {
  if (params.bool('drop_pending_updates')) state.updates.clear();
  return new ResultWithDescription(true, 'Webhook is already deleted');
}

export function getWebhookInfo({ state }: MethodContext): WebhookInfo {
  return { url: '', has_custom_certificate: false, pending_update_count: state.updates.pendingCount() };
}
