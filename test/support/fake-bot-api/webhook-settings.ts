import { BotApiError, DESCRIPTIONS, tooManyRequests } from './api-error.js';
import type { Params } from './request-params.js';
import type { UpdateQueue } from './update-queue.js';

/** What setWebhook stored; `url` is empty while no webhook is set. */
export interface WebhookSettings {
  url: string;
  secretToken: string;
  maxConnections: number;
}

const NONE: WebhookSettings = { url: '', secretToken: '', maxConnections: 0 };
/** telegram-bot-api's default for max_connections (not in local mode). */
const DEFAULT_MAX_CONNECTIONS = 40;
const ALLOWED_PORTS = new Set([80, 88, 443, 8443]);

/**
 * setWebhook and deleteWebhook as telegram-bot-api's process_set_webhook_query/do_set_webhook and
 * WebhookActor::start_up decide them. Not simulated: certificates, ip_address, resolving the host
 * (a name that does not resolve or a reserved address is refused by Telegram, not here) and the
 * 3-second delay of repeated 409s. The one-second throttle of setWebhook runs on real time, as
 * Telegram's does (td::Time), not on the injected message clock.
 */
export class WebhookState {
  private settings: WebhookSettings = NONE;
  private nextAllowedSetAt = 0;

  constructor(private readonly updates: UpdateQueue) {}

  get current(): WebhookSettings {
    return this.settings;
  }

  get active(): boolean {
    return this.settings.url !== '';
  }

  /** Both methods in one, as on Telegram: deleteWebhook is setWebhook without a url. */
  set(params: Params, deleting: boolean): { result: true; description: string } {
    const url = deleting ? '' : params.str('url');
    if (url !== '') {
      const now = performance.now();
      if (now < this.nextAllowedSetAt) throw tooManyRequests(1);
      this.nextAllowedSetAt = now + 1_000;
    }
    const wanted: WebhookSettings = {
      url,
      secretToken: url === '' ? '' : params.str('secret_token'),
      maxConnections: url === '' ? 0 : params.int('max_connections', DEFAULT_MAX_CONNECTIONS, 1, 100),
    };
    const drop = params.bool('drop_pending_updates');
    const current = this.settings;
    if (
      current.url === wanted.url &&
      current.secretToken === wanted.secretToken &&
      current.maxConnections === wanted.maxConnections &&
      !drop
    ) {
      this.updateAllowed(params);
      return {
        result: true,
        description: url === '' ? 'Webhook is already deleted' : 'Webhook is already set',
      };
    }
    if (url !== '') this.updates.abortPoll(DESCRIPTIONS.terminatedBySetWebhook);
    // The old webhook is closed before the new one is checked: a refused one leaves none set.
    const wasSet = this.active;
    this.settings = NONE;
    if (drop) this.updates.clear();
    if (url === '') {
      return { result: true, description: wasSet ? 'Webhook was deleted' : 'Webhook is already deleted' };
    }
    this.settings = { ...checked(url, wanted.secretToken), maxConnections: wanted.maxConnections };
    this.updateAllowed(params);
    return { result: true, description: 'Webhook was set' };
  }

  private updateAllowed(params: Params): void {
    const allowed = params.json('allowed_updates');
    if (allowed.present && 'value' in allowed) this.updates.setAllowedUpdates(allowed.value);
  }
}

function checked(url: string, secretToken: string): Omit<WebhookSettings, 'maxConnections'> {
  // td::parse_url takes a URL without a scheme as https.
  let parsed: URL;
  try {
    parsed = new URL(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url : `https://${url}`);
  } catch {
    throw new BotApiError(400, DESCRIPTIONS.invalidWebhookUrl);
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.hostname === '') {
    throw new BotApiError(400, DESCRIPTIONS.invalidWebhookUrl);
  }
  if (secretToken.length > 256) throw new BotApiError(400, DESCRIPTIONS.secretTokenTooLong);
  if (!/^[A-Za-z0-9_-]*$/.test(secretToken)) {
    throw new BotApiError(400, DESCRIPTIONS.secretTokenUnallowedCharacters);
  }
  if (parsed.protocol === 'http:') throw new BotApiError(400, DESCRIPTIONS.webhookNeedsHttps);
  const port = parsed.port === '' ? 443 : Number(parsed.port);
  if (!ALLOWED_PORTS.has(port)) throw new BotApiError(400, DESCRIPTIONS.webhookPortForbidden);
  return { url, secretToken };
}
