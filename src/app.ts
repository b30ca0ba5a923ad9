import { GrammyError, HttpError } from 'grammy';
import { registerCommands } from '../bot/commands.js';
import type { BotDeps } from '../bot/context.js';
import { createBot, installFeatures } from '../bot/create-bot.js';
import { AccessService } from '../bot/services/access.js';
import { Broadcaster } from '../bot/services/broadcaster.js';
import { ContentService } from '../bot/services/content.js';
import { DeleteTimeSetting } from '../bot/services/delete-time.js';
import { describeTelegramError } from '../bot/telegram/errors.js';
import { createRepositories } from '../db/repositories/index.js';
import { LEASES_COLLECTION, LeasesRepository } from '../db/repositories/leases.js';
import type { SchedulerRuntime } from '../schedulers/runtime.js';
import type { Config } from './config.js';
import { openDatabase, StartupError } from './database.js';
import type { Logger } from './logger.js';
import { createApiPolicy, createMaintenance } from './maintenance.js';
import { AlertMonitor, createReadinessCheck, OpsMetrics, startOpsServer } from './ops/index.js';
import { pollWhileLeader } from './polling.js';

export interface AppOptions {
  /** Injectable "now" (tests); defaults to the system clock. */
  clock?: () => Date;
  /** Stops the bot like SIGTERM does (tests run the app in-process). */
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
  opsUrl: string | undefined;
}

/**
 * The bot's whole life. Start-up: MongoDB and indexes, the bot (getMe), the schedulers, the
 * command menu, then long polling. On the way out (SIGINT/SIGTERM call bot.stop(), or polling
 * fails) the `finally` around polling stops the schedulers, waiting for running jobs up to
 * SHUTDOWN_TIMEOUT_MS, then everything else, and MongoDB closes last.
 */
export async function runApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<void> {
  const clock = options.clock ?? (() => new Date());
  const opened = await openDatabase(config, logger.child({ component: 'db' }));
  const { database } = opened;
  try {
    const metrics = new OpsMetrics({ backlog: createRepositories(database.collections), logger, clock });
    const bot = createBot({
      token: config.botToken,
      apiRoot: config.telegram.apiRoot,
      policy: createApiPolicy(config, metrics.apiObserver),
      logger: logger.child({ component: 'bot' }),
    });
    await initBot(bot);
    const botUsername = bot.botInfo.username;

    const maintenance = createMaintenance({
      config,
      database,
      api: bot.api,
      logger,
      botUsername: async () => botUsername,
      clock,
    });
    const { runtime, repos } = maintenance;
    metrics.watch(runtime);

    const broadcaster = new Broadcaster({
      api: bot.api,
      repos,
      logger: logger.child({ component: 'broadcast' }),
      clock,
      instanceId: runtime.instanceId,
      timezone: config.scheduler.timezone,
      batchSize: config.deletion.batchSize,
      concurrency: config.telegram.concurrency,
      retry: config.telegram.retry,
    });
    const deps: BotDeps = {
      config,
      logger: logger.child({ component: 'bot' }),
      clock,
      repos,
      collections: database.collections,
      runtime,
      access: new AccessService({
        repos,
        timezone: config.scheduler.timezone,
        expiryDays: config.tokens.expiryDays,
        dailyLimit: config.tokens.dailyLimit,
        verifyLinkTemplate: config.tokens.verifyLinkTemplate,
      }),
      content: new ContentService(database.collections.contents, repos.pendingDeletions),
      deleteTime: new DeleteTimeSetting(repos.settings, config.content.defaultDeleteAfterMinutes),
      broadcaster,
    };
    installFeatures(bot, deps);

    const alerts = new AlertMonitor({
      db: database.db,
      api: bot.api,
      adminIds: config.adminIds,
      deletions: repos.pendingDeletions,
      logger,
      failureThreshold: config.alerts.failureThreshold,
      deletionLagMs: config.alerts.deletionLagMs,
      instanceId: runtime.instanceId,
      secrets: [config.botToken],
      clock,
    });
    alerts.watch(runtime);
    const ops =
      config.http.port === undefined
        ? undefined
        : await startOpsServer({
            port: config.http.port,
            host: config.http.host,
            registry: metrics.registry,
            logger: logger.child({ component: 'http' }),
            readiness: createReadinessCheck({
              database,
              botReady: () => bot.isInited(),
              ...(config.scheduler.enabled ? { runtime } : {}),
            }),
          });
    if (ops) logger.info({ url: ops.url }, 'health, readiness and metrics endpoint listening');

    const shutdown = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      if (shutdown.signal.aborted) return;
      logger.info({ signal }, 'stopping: finishing the current update, then shutting down');
      shutdown.abort();
      // bot.stop() confirms handled updates with one last call; failing that only means Telegram
      // may deliver those updates again, which is no reason to keep running.
      bot.stop().catch((error: unknown) => logger.warn({ err: error }, 'could not confirm the last updates'));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const onAbort = () => stop('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    try {
      await broadcaster.recoverInterrupted();
      if (config.scheduler.enabled) await runtime.start();
      else logger.info('schedulers are disabled on this instance (SCHEDULERS_ENABLED=false)');
      alerts.start();
      await registerCommands(bot.api, config.adminIds, logger.child({ component: 'bot' }));
      let announced = false;
      options.onStarted?.({ deps, runtime, broadcaster, alerts, opsUrl: ops?.url });
      await pollWhileLeader({
        bot,
        leases: new LeasesRepository(database.db.collection(LEASES_COLLECTION)),
        instanceId: runtime.instanceId,
        leaseMs: config.scheduler.leaseMs,
        logger,
        signal: shutdown.signal,
        allowedUpdates: ['message', 'callback_query', 'my_chat_member'],
        onPolling: () => {
          logger.info({ username: botUsername }, 'bot is polling for updates');
          if (announced) return;
          announced = true;
          options.onReady?.({ deps, runtime, broadcaster, alerts, opsUrl: ops?.url });
        },
      });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      options.signal?.removeEventListener('abort', onAbort);
      logger.info('polling stopped; stopping the schedulers');
      await runtime.stop({ timeoutMs: config.scheduler.shutdownTimeoutMs });
      await broadcaster.stop(config.scheduler.shutdownTimeoutMs);
      await alerts.stop();
      await ops?.close();
      logger.info('schedulers stopped');
    }
  } finally {
    await opened.close();
    logger.info('MongoDB connection closed');
  }
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
