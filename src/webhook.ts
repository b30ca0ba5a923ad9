import { type Api, GrammyError, HttpError } from 'grammy';
import pRetry from 'p-retry';
import type { createBot } from '../bot/create-bot.js';
import { describeTelegramError } from '../bot/telegram/errors.js';
import { UpdateDispatcher } from '../bot/updates/dispatcher.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import {
  createReadinessCheck,
  type HttpServer,
  type ReadinessSources,
  startHttpServer,
} from './ops/index.js';
import { StartupError } from './startup-error.js';
import type { AppGraph } from './wiring.js';

type WebhookConfig = NonNullable<Config['updates']['webhook']>;
type Bot = ReturnType<typeof createBot>;

export interface Servers {
  /** Where /healthz, /readyz and /metrics answer (HTTP_PORT), when served. */
  opsUrl: string | undefined;
  /** The local address the webhook listens on (a load balancer forwards WEBHOOK_URL here). */
  webhookUrl: string | undefined;
  /** Called once Telegram accepted setWebhook: readiness then reports the webhook as ok. */
  markWebhookSet(): void;
  /** New updates are refused (503, Telegram tries again) and a webhook-only server closes. */
  stopReceiving(): Promise<void>;
  close(): Promise<void>;
}

export interface ServersOptions {
  config: Config;
  logger: Logger;
  app: Pick<AppGraph, 'metrics'>;
  readiness: Omit<ReadinessSources, 'webhook'>;
  /** Webhook mode: records a received update (UpdateDispatcher.accept). */
  receive?: (update: { update_id: number }) => Promise<unknown>;
  /** More routes for the HTTP_PORT server (the dashboard and its API). */
  opsPlugins?: ReadonlyArray<(app: import('fastify').FastifyInstance) => Promise<void>>;
}

/**
 * The HTTP servers a process runs: the operations routes when HTTP_PORT is set, the webhook in
 * webhook mode, and both on one server when WEBHOOK_PORT equals HTTP_PORT (then on WEBHOOK_HOST,
 * which the load balancer must reach).
 */
export async function startServers(options: ServersOptions): Promise<Servers> {
  const { config, logger, receive } = options;
  const webhook = config.updates.mode === 'webhook' ? config.updates.webhook : undefined;
  let state: 'not listening' | 'setWebhook not done' | 'ok' | 'stopping' = 'not listening';
  let accepting = true;
  const readiness = createReadinessCheck({
    ...options.readiness,
    ...(webhook ? { webhook: () => state } : {}),
  });
  const ops =
    config.http.port === undefined ? undefined : { readiness, registry: options.app.metrics.registry };
  const route =
    webhook && receive
      ? { path: webhook.path, secret: webhook.secret, receive, accepting: () => accepting }
      : undefined;
  const httpLogger = logger.child({ component: 'http' });
  const shared = ops !== undefined && route !== undefined && config.http.port === webhook?.port;

  const started: HttpServer[] = [];
  let opsServer: HttpServer | undefined;
  let webhookServer: HttpServer | undefined;
  try {
    if (shared && webhook) {
      opsServer = webhookServer = await startHttpServer({
        port: webhook.port,
        host: webhook.host,
        logger: httpLogger,
        ops,
        webhook: route,
        plugins: options.opsPlugins ?? [],
        trustedProxies: config.http.trustedProxies,
      });
      started.push(opsServer);
    } else {
      if (ops && config.http.port !== undefined) {
        opsServer = await startHttpServer({
          port: config.http.port,
          host: config.http.host,
          logger: httpLogger,
          ops,
          plugins: options.opsPlugins ?? [],
          trustedProxies: config.http.trustedProxies,
        });
        started.push(opsServer);
      }
      if (route && webhook) {
        webhookServer = await startHttpServer({
          port: webhook.port,
          host: webhook.host,
          logger: httpLogger,
          webhook: route,
        });
        started.push(webhookServer);
      }
    }
  } catch (error) {
    await Promise.all(started.map((server) => server.close()));
    if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
      throw new StartupError(`cannot listen for HTTP: ${error.message} (check HTTP_PORT and WEBHOOK_PORT)`);
    }
    throw error;
  }
  if (webhookServer) state = 'setWebhook not done';
  if (opsServer) logger.info({ url: opsServer.url }, 'health, readiness and metrics endpoint listening');
  if (webhookServer)
    logger.info({ url: webhookServer.url, path: webhook?.path }, 'webhook endpoint listening');

  return {
    opsUrl: opsServer?.url,
    webhookUrl: webhookServer ? `${webhookServer.url}${webhook?.path ?? ''}` : undefined,
    markWebhookSet: () => {
      if (state === 'setWebhook not done') state = 'ok';
    },
    async stopReceiving() {
      accepting = false;
      if (webhookServer) state = 'stopping';
      if (webhookServer && webhookServer !== opsServer) await webhookServer.close();
    },
    async close() {
      await Promise.all(started.map((server) => server.close()));
    },
  };
}

/** The dispatcher that handles received updates with the bot, in webhook mode. */
export function createUpdateDispatcher(config: Config, app: AppGraph, logger: Logger): UpdateDispatcher {
  return new UpdateDispatcher({
    inbox: app.repos.updateInbox,
    handle: (update) => app.bot.handleUpdate(update),
    instanceId: app.instanceId,
    leaseMs: config.scheduler.leaseMs,
    concurrency: config.updates.concurrency,
    logger: logger.child({ component: 'updates' }),
  });
}

/**
 * Webhook mode's receiving: handle what the inbox holds, then tell Telegram where to post.
 * Resolves when `signal` aborts; a refused setWebhook stops the start-up with one line.
 */
export async function receiveByWebhook(options: {
  bot: Bot;
  webhook: WebhookConfig;
  dispatcher: UpdateDispatcher;
  servers: Servers;
  allowedUpdates: readonly string[];
  logger: Logger;
  signal: AbortSignal;
  onReceiving(): void;
}): Promise<void> {
  const { webhook, signal } = options;
  await options.dispatcher.start();
  await setWebhook(options.bot.api, webhook, options.allowedUpdates);
  options.servers.markWebhookSet();
  options.logger.info(
    { url: webhook.url, maxConnections: webhook.maxConnections },
    'Telegram posts updates to the webhook',
  );
  options.onReceiving();
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function setWebhook(
  api: Api,
  webhook: WebhookConfig,
  allowedUpdates: readonly string[],
): Promise<void> {
  try {
    // Every replica sets the same webhook; Telegram answers "Webhook is already set" to the others.
    await unlessRefused(() =>
      api.setWebhook(webhook.url, {
        secret_token: webhook.secret,
        allowed_updates: allowedUpdates as NonNullable<Parameters<Api['setWebhook']>[1]>['allowed_updates'],
        max_connections: webhook.maxConnections,
        drop_pending_updates: false,
      }),
    );
  } catch (error) {
    if (error instanceof GrammyError || error instanceof HttpError) {
      throw new StartupError(
        `Telegram did not accept WEBHOOK_URL ${webhook.url} (setWebhook failed: ${describeTelegramError(error)}); it must be a public https URL on port 443, 80, 88 or 8443.`,
      );
    }
    throw error;
  }
}

/**
 * Polling mode: Telegram refuses getUpdates while a webhook is set (409), so a bot switched back
 * from webhook mode deletes it first; updates waiting for the webhook are then polled.
 */
export async function deleteWebhookBeforePolling(api: Api): Promise<void> {
  try {
    await unlessRefused(() => api.deleteWebhook({ drop_pending_updates: false }));
  } catch (error) {
    if (error instanceof GrammyError || error instanceof HttpError) {
      throw new StartupError(
        `cannot switch to polling: deleteWebhook failed (${describeTelegramError(error)}); check TELEGRAM_API_ROOT and the network.`,
      );
    }
    throw error;
  }
}

/**
 * A start-up call Telegram may fail for a moment (5xx, a network error) is tried again with
 * backoff for about 15 s; an answer that refuses it (4xx) is final at once.
 */
function unlessRefused<T>(call: () => Promise<T>): Promise<T> {
  return pRetry(call, {
    retries: 4,
    minTimeout: 1_000,
    factor: 2,
    shouldRetry: ({ error }) =>
      error instanceof HttpError || (error instanceof GrammyError && error.error_code >= 500),
  });
}
