import type { Update, UserFromGetMe, WebhookInfo } from 'grammy/types';
import { BotApiError, DESCRIPTIONS } from '../api-error.js';
import { getMeJson } from '../telegram-objects.js';
import { type MethodContext, ResultWithDescription } from './context.js';

/** telegram-bot-api clamps long-poll timeouts to this many seconds. */
const LONG_POLL_MAX_TIMEOUT = 50;

export function getMe({ state }: MethodContext): UserFromGetMe {
  return getMeJson(state.bot);
}

export function getUpdates({ state, params, signal }: MethodContext): Promise<Update[]> {
  if (state.webhook.active) throw new BotApiError(409, DESCRIPTIONS.webhookActiveConflict);
  const offset = params.int('offset', 0);
  const limit = params.int('limit', 100, 1, 100);
  const timeout = params.int('timeout', 0, 0, LONG_POLL_MAX_TIMEOUT);
  const allowed = params.json('allowed_updates');
  if (allowed.present && 'value' in allowed) state.updates.setAllowedUpdates(allowed.value);
  return state.updates.getUpdates(offset, limit, timeout, signal);
}

export function setWebhook({ state, params }: MethodContext): ResultWithDescription {
  const { result, description } = state.webhook.set(params, false);
  return new ResultWithDescription(result, description);
}

export function deleteWebhook({ state, params }: MethodContext): ResultWithDescription {
  const { result, description } = state.webhook.set(params, true);
  return new ResultWithDescription(result, description);
}

/** Fields as telegram-bot-api's JsonWebhookInfo writes them; the address is not resolved. */
export function getWebhookInfo({ state }: MethodContext): WebhookInfo {
  const { url, maxConnections } = state.webhook.current;
  const allowed = state.updates.allowedUpdates();
  return {
    url,
    has_custom_certificate: false,
    pending_update_count: state.updates.pendingCount(),
    ...(maxConnections > 0 ? { max_connections: maxConnections } : {}),
    ...(url === '' ? {} : { ip_address: '<unknown>' }),
    ...(allowed === undefined ? {} : { allowed_updates: allowed as WebhookInfo['allowed_updates'] }),
  };
}
