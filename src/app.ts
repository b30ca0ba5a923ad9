import { GrammyError, HttpError } from 'grammy';
import type { Update } from 'grammy/types';
import { registerCommands } from '../bot/commands.js';
import type { BotDeps } from '../bot/context.js';
import type { createBot } from '../bot/create-bot.js';
import type { Broadcaster } from '../bot/services/broadcaster.js';
import { describeTelegramError } from '../bot/telegram/errors.js';
import type { UpdatesInFlight } from '../bot/updates/in-flight.js';
import type { Database } from '../db/client.js';
import type { SchedulerRuntime } from '../schedulers/runtime.js';
import type { Config } from './config.js';
import { dashboardPlugin } from './dashboard/index.js';
import { openDatabase } from './database.js';
import type { Logger } from './logger.js';
import type { AlertMonitor } from './ops/index.js';
import { pollWhileLeader } from './polling.js';
import { StartupError } from './startup-error.js';
import {
  createUpdateDispatcher,
  deleteWebhookBeforePolling,
  receiveByWebhook,
  startServers,
} from './webhook.js';
import { type AppGraph, buildApp } from './wiring.js';

export interface AppOptions {
  /** Injectable "now" (tests); defaults to the system clock. */
  clock?: () => Date;
  /** Aborting it stops the bot (main.ts turns SIGINT/SIGTERM into this; tests abort it directly). */
  signal?: AbortSignal;
  /** Called once the bot is polling, with the running parts (tests drive them). */
  onReady?: (app: RunningApp) => void;
  /** Called once start-up is done, whether this instance polls or stands by. */
  onStarted?: (app: RunningApp) => void;
}

export interface RunningApp {
  deps: BotDeps;
  runtime: SchedulerRuntime;
  broadcaster: Broadcaster;
  alerts: AlertMonitor;
  /** The updates being handled right now. */
  updates: UpdatesInFlight;
  opsUrl: string | undefined;
  /** Webhook mode: the local URL the webhook answers on (tests post updates here). */
  webhookUrl?: string | undefined;
}

/**
 * The bot's whole life. Start-up: MongoDB and indexes, the bot (getMe), the schedulers, the
 * command menu, then long polling. When the signal aborts (or polling fails), SHUTDOWN_TIMEOUT_MS
 * is the one budget for the whole stop: polling, the schedulers and the broadcaster stop at once,
 * in parallel, running work gets its abort signal and the rest of the budget to finish its batch,
 * and MongoDB closes only after they have settled or the budget is spent.
 */
export async function runApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<void> {
  const opened = await openDatabase(config, logger.child({ component: 'db' }));
  try {
    const app = buildApp({
      config,
      database: opened.database,
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    await initBot(app.bot);
    await serve(config, logger, app, opened.database, options);
  } finally {
    await opened.close();
    logger.info('MongoDB connection closed');
  }
}

/** Starts what the graph holds, polls until the signal, then stops everything within one budget. */
async function serve(
  config: Config,
  logger: Logger,
  app: AppGraph,
  database: Database,
  options: AppOptions,
): Promise<void> {
  const { bot, runtime, broadcaster, alerts, deps } = app;
  const botUsername = bot.botInfo.username;
  const webhook = config.updates.mode === 'webhook' ? config.updates.webhook : undefined;
  const dispatcher = webhook ? createUpdateDispatcher(config, app, logger) : undefined;
  const servers = await startServers({
    config,
    logger,
    app,
    readiness: {
      database,
      botReady: () => bot.isInited(),
      ...(config.scheduler.enabled ? { runtime } : {}),
    },
    ...(dispatcher ? { receive: (update) => dispatcher.accept(update as Update) } : {}),
    ...(config.dashboard
      ? {
          opsPlugins: [
            dashboardPlugin({
              settings: config.dashboard,
              jobs: runtime,
              repos: app.repos,
              cancelBroadcast: (id, by) => broadcaster.cancel(id, by),
              timezone: config.scheduler.timezone,
              clock: options.clock ?? (() => new Date()),
              logger,
            }),
          ],
        }
      : {}),
  });
  const running: RunningApp = {
    deps,
    runtime,
    broadcaster,
    alerts,
    updates: app.updates,
    opsUrl: servers.opsUrl,
    webhookUrl: servers.webhookUrl,
  };

  const shutdown = new AbortController();
  const budgetMs = config.scheduler.shutdownTimeoutMs;
  let stopping: { done: Promise<void>; deadline: number } | undefined;
  const beginStop = (reason: string) => {
    if (stopping) return stopping;
    logger.info({ reason, budgetMs }, 'stopping: polling, schedulers and broadcasts wind down together');
    // Polling stops fetching, finishes the updates in hand and confirms them (polling.ts).
    shutdown.abort();
    void servers
      .stopReceiving()
      .catch((error: unknown) => logger.warn({ err: error }, 'could not close the webhook'));
    stopping = {
      deadline: Date.now() + budgetMs,
      done: Promise.all([
        runtime.stop({ timeoutMs: budgetMs }),
        broadcaster.stop(budgetMs),
        dispatcher?.stop(budgetMs),
      ]).then(() => {}),
    };
    return stopping;
  };
  const onAbort = () => beginStop('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  let polling: Promise<void> = Promise.resolve();
  try {
    if (config.scheduler.enabled) {
      await runtime.start();
    } else {
      logger.info('schedulers are disabled on this instance (SCHEDULERS_ENABLED=false)');
      // The deletion limits still follow the deleters' schedules, changed on whatever instance.
      await runtime.followSchedules();
    }
    broadcaster.startSweeping();
    alerts.start();
    retryInBackground(() => registerCommands(bot.api, config.adminIds, logger.child({ component: 'bot' })), {
      what: 'set the command menu',
      logger,
      signal: shutdown.signal,
    });
    let announced = false;
    options.onStarted?.(running);
    if (webhook && dispatcher) {
      polling = receiveByWebhook({
        bot,
        webhook,
        dispatcher,
        servers,
        allowedUpdates: ALLOWED_UPDATES,
        logger,
        signal: shutdown.signal,
        onReceiving: () => options.onReady?.(running),
      });
      await polling;
      return;
    }
    await deleteWebhookBeforePolling(bot.api);
    polling = pollWhileLeader({
      bot,
      leases: app.repos.leases,
      instanceId: app.instanceId,
      leaseMs: config.scheduler.leaseMs,
      logger,
      signal: shutdown.signal,
      stopBudgetMs: budgetMs,
      inFlight: app.updates,
      concurrency: config.updates.concurrency,
      allowedUpdates: [...ALLOWED_UPDATES],
      onPolling: () => {
        logger.info({ username: botUsername }, 'bot is polling for updates');
        if (announced) return;
        announced = true;
        options.onReady?.(running);
      },
    });
    await polling;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    const { done, deadline } = beginStop('polling ended');
    // An update handler still busy past the budget is not waited for.
    await Promise.all([done, settledBy(polling, deadline)]);
    // Our share lapses with our last stamp; the others take it over once it has expired.
    app.rateBudget.close();
    await alerts.stop();
    await servers.close();
    logger.info('schedulers stopped');
  }
}

/** The update kinds the bot's features handle; Telegram sends no others. */
const ALLOWED_UPDATES = ['message', 'callback_query', 'my_chat_member'] as const;

/** Resolves when `work` settles or at `deadline` (epoch ms), whichever comes first. */
function settledBy(work: Promise<unknown>, deadline: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}

/**
 * Cosmetic start-up calls (the command menu) must not stop the bot when Telegram answers 5xx:
 * logged, and tried again with backoff until they succeed or the bot stops.
 */
function retryInBackground(
  task: () => Promise<void>,
  options: { what: string; logger: Logger; signal: AbortSignal },
): void {
  let delayMs = 1_000;
  const attempt = () => {
    if (options.signal.aborted) return;
    task().catch((error: unknown) => {
      options.logger.warn(
        { err: error, retryInMs: delayMs },
        `could not ${options.what}; trying again later`,
      );
      const timer = setTimeout(attempt, delayMs);
      timer.unref();
      delayMs = Math.min(delayMs * 2, 10 * 60_000);
    });
  };
  attempt();
}

/** getMe, with a start-up error an operator can act on when the token or the server is wrong. */
async function initBot(bot: ReturnType<typeof createBot>): Promise<void> {
  try {
    await bot.init();
  } catch (error) {
    if (error instanceof GrammyError && error.error_code === 401) {
      throw new StartupError(
        'Telegram rejected BOT_TOKEN (401 Unauthorized): check the token @BotFather gave you.',
      );
    }
    if (error instanceof GrammyError || error instanceof HttpError) {
      throw new StartupError(
        `cannot reach the Bot API (getMe failed: ${describeTelegramError(error)}); check TELEGRAM_API_ROOT and the network.`,
      );
    }
    throw error;
  }
}
