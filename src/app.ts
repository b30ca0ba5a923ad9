import { GrammyError, HttpError } from 'grammy';
import { registerCommands } from '../bot/commands.js';
import type { BotDeps } from '../bot/context.js';
import { createBot, installFeatures } from '../bot/create-bot.js';
import { AccessService } from '../bot/services/access.js';
import { Broadcaster } from '../bot/services/broadcaster.js';
import { ContentService } from '../bot/services/content.js';
import { DeleteTimeSetting } from '../bot/services/delete-time.js';
import { createBulkApi } from '../bot/telegram/api.js';
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
  opsUrl: string | undefined;
}

/**
 * The bot's whole life. Start-up: MongoDB and indexes, the bot (getMe), the schedulers, the
 * command menu, then long polling. When the signal aborts (or polling fails), SHUTDOWN_TIMEOUT_MS
 * is the one budget for the whole stop: polling, the schedulers and the broadcaster stop at once,
 * in parallel, running work gets its abort signal and the rest of the budget to finish its batch,
 * and MongoDB closes only after they have settled or the budget is spent.
 */
export async function runApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<void> {
  const clock = options.clock ?? (() => new Date());
  const opened = await openDatabase(config, logger.child({ component: 'db' }));
  const { database } = opened;
  try {
    const metrics = new OpsMetrics({ backlog: createRepositories(database.collections), logger, clock });
    const policy = createApiPolicy(config, metrics.apiObserver);
    const bot = createBot({
      token: config.botToken,
      apiRoot: config.telegram.apiRoot,
      policy,
      logger: logger.child({ component: 'bot' }),
    });
    await initBot(bot);
    const botUsername = bot.botInfo.username;
    const bulkApi = createBulkApi(config.botToken, config.telegram.apiRoot, policy);

    const maintenance = createMaintenance({
      config,
      database,
      api: bulkApi,
      logger,
      botUsername: async () => botUsername,
      clock,
    });
    const { runtime, repos } = maintenance;
    metrics.watch(runtime);

    const broadcaster = new Broadcaster({
      api: bulkApi,
      progressApi: bot.api,
      gate: policy.gate,
      repos,
      logger: logger.child({ component: 'broadcast' }),
      clock,
      instanceId: runtime.instanceId,
      timezone: config.scheduler.timezone,
      batchSize: config.deletion.batchSize,
      concurrency: config.telegram.concurrency,
      retry: config.telegram.retry,
      protectContent: config.content.protect,
      leaseMs: config.scheduler.leaseMs,
    });
    const deps: BotDeps = {
      adminIds: config.adminIds,
      timezone: config.scheduler.timezone,
      maxBroadcastMinutes: config.deletion.maxBroadcastMinutes,
      logger: logger.child({ component: 'bot' }),
      clock,
      repos,
      jobs: runtime,
      access: new AccessService({
        repos,
        timezone: config.scheduler.timezone,
        expiryDays: config.tokens.expiryDays,
        dailyLimit: config.tokens.dailyLimit,
        verifyLinkTemplate: config.tokens.verifyLinkTemplate,
      }),
      content: new ContentService(database.collections.contents, repos.pendingDeletions, {
        protectContent: config.content.protect,
      }),
      deleteTime: new DeleteTimeSetting(
        repos.settings,
        config.content.defaultDeleteAfterMinutes,
        config.deletion.maxContentMinutes,
      ),
      broadcaster,
    };
    installFeatures(bot, deps);

    const alerts = new AlertMonitor({
      db: database.db,
      api: bulkApi,
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
    const budgetMs = config.scheduler.shutdownTimeoutMs;
    let stopping: { done: Promise<void>; deadline: number } | undefined;
    const beginStop = (reason: string) => {
      if (stopping) return stopping;
      logger.info({ reason, budgetMs }, 'stopping: polling, schedulers and broadcasts wind down together');
      shutdown.abort();
      // bot.stop() confirms handled updates with one last call; failing that only means Telegram
      // may deliver those updates again, which is no reason to keep running.
      bot.stop().catch((error: unknown) => logger.warn({ err: error }, 'could not confirm the last updates'));
      stopping = {
        deadline: Date.now() + budgetMs,
        done: Promise.all([runtime.stop({ timeoutMs: budgetMs }), broadcaster.stop(budgetMs)]).then(() => {}),
      };
      return stopping;
    };
    const onAbort = () => beginStop('signal');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    let polling: Promise<void> = Promise.resolve();
    try {
      if (config.scheduler.enabled) await runtime.start();
      else logger.info('schedulers are disabled on this instance (SCHEDULERS_ENABLED=false)');
      broadcaster.startSweeping();
      alerts.start();
      retryInBackground(
        () => registerCommands(bot.api, config.adminIds, logger.child({ component: 'bot' })),
        { what: 'set the command menu', logger, signal: shutdown.signal },
      );
      let announced = false;
      options.onStarted?.({ deps, runtime, broadcaster, alerts, opsUrl: ops?.url });
      polling = pollWhileLeader({
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
      await polling;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      const { done, deadline } = beginStop('polling ended');
      // An update handler still busy past the budget is not waited for.
      await Promise.all([done, settledBy(polling, deadline)]);
      await alerts.stop();
      await ops?.close();
      logger.info('schedulers stopped');
    }
  } finally {
    await opened.close();
    logger.info('MongoDB connection closed');
  }
}

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
