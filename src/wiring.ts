import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Api } from 'grammy';
import type { Logger } from 'pino';
import type { BotDeps } from '../bot/context.js';
import { createBot, installFeatures } from '../bot/create-bot.js';
import { DeletionEngine } from '../bot/deletion/deletion-engine.js';
import { DeletionLimits } from '../bot/deletion/deletion-limits.js';
import { AccessService } from '../bot/services/access.js';
import { Broadcaster } from '../bot/services/broadcaster.js';
import { ContentService } from '../bot/services/content.js';
import { countDaily } from '../bot/services/daily-stats.js';
import { DeleteTimeSetting } from '../bot/services/delete-time.js';
import {
  type ApiObserver,
  type ApiPolicy,
  createBulkApi,
  createApiPolicy as policyFrom,
} from '../bot/telegram/api.js';
import type { BulkShare } from '../bot/telegram/priority-window.js';
import { createRateLimiter } from '../bot/telegram/rate-limiter.js';
import { type RateBudgetEvent, SharedRateBudget } from '../bot/telegram/shared-rate-budget.js';
import { UpdatesInFlight } from '../bot/updates/in-flight.js';
import type { Database } from '../db/client.js';
import { AlertsRepository } from '../db/repositories/alerts.js';
import { createRepositories, type Repositories } from '../db/repositories/index.js';
import { RateSharesRepository } from '../db/repositories/rate-shares.js';
import { RunsRepository } from '../db/repositories/runs.js';
import { deletionScheduleRule, followDeleterSchedules } from '../schedulers/deletion-schedules.js';
import { createJobs, type JobDeps } from '../schedulers/jobs/index.js';
import { SchedulerRuntime } from '../schedulers/runtime.js';
import type { Config } from './config.js';
import { AlertMonitor, OpsMetrics } from './ops/index.js';

/**
 * The object graph, built once and in dependency order: repositories, then the Telegram clients,
 * then the jobs and their runtime, then (for the bot) the features, the broadcaster and the alerts.
 * `npm start`, `npm run task` and the bench all build here; starting and stopping is app.ts's.
 */

/** Identifies a process in claims, leases and alerts. */
export function newInstanceId(prefix = ''): string {
  return `${prefix}${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * One call pipeline per process: the bot's replies and the jobs' deletions share its limits and
 * its flood gate. `bulkShare` is this instance's part of the bot token's bulk budget when several
 * instances share it (buildCore's SharedRateBudget).
 */
export function createApiPolicy(config: Config, observer?: ApiObserver, bulkShare?: BulkShare): ApiPolicy {
  return policyFrom({
    limiter: createRateLimiter({
      maxPerSecond: config.telegram.maxRps,
      perChatPerSecond: config.telegram.perChatRps,
      ...(bulkShare ? { bulkShare } : {}),
    }),
    maxRetryAfterSeconds: config.telegram.maxRetryAfterSeconds,
    maxRateLimitRetries: 10,
    ...(observer ? { observer } : {}),
  });
}

/** The bot's @username, asked of Telegram once (the deep links in notices need it). */
export function botUsernameOf(api: Api, known?: string): () => Promise<string> {
  let username: Promise<string> | undefined = known ? Promise.resolve(known) : undefined;
  return () => {
    if (!username) {
      const lookup = api.getMe().then((me) => me.username);
      // A failed lookup is retried on the next call instead of being remembered.
      lookup.catch(() => {
        if (username === lookup) username = undefined;
      });
      username = lookup;
    }
    return username;
  };
}

export interface Core {
  instanceId: string;
  repos: Repositories;
  runs: RunsRepository;
  policy: ApiPolicy;
  /** This instance's share of the bot token's bulk budget, agreed with the other instances. */
  rateBudget: SharedRateBudget;
  /** The bulk lane: deletions, notices, broadcasts and alerts wait out flood control. */
  bulkApi: Api;
  jobDeps: JobDeps;
  runtime: SchedulerRuntime;
  /** The longest lifetimes the deleters' schedules in effect allow; they follow schedule changes. */
  deletionLimits: DeletionLimits;
  /** /setdeletetime's setting; a new content deleter schedule must leave room for it. */
  deleteTime: DeleteTimeSetting;
}

export interface CoreOptions {
  config: Config;
  database: Database;
  logger: Logger;
  clock?: () => Date;
  instanceId?: string;
  observer?: ApiObserver;
  /** The bot's @username when already known (getMe done); asked lazily otherwise. */
  botUsername?: string;
  /** Made by the caller when it needs them first (buildApp's metrics). */
  repos?: Repositories;
}

/** What every entry point needs: the repositories, the Telegram clients and the jobs on their runtime. */
export function buildCore(options: CoreOptions): Core {
  const { config, database, logger } = options;
  const instanceId = options.instanceId ?? newInstanceId();
  const repos =
    options.repos ??
    createRepositories(database.collections, { statsRetentionDays: config.stats.retentionDays });
  const runs = new RunsRepository(database.collections.runs, {
    instanceId,
    historyMs: config.scheduler.historyDays * 86_400_000,
    leaseMs: config.scheduler.leaseMs,
  });
  const rateBudget = new SharedRateBudget({
    shares: new RateSharesRepository(database.collections.rateShares),
    instanceId,
    maxPerSecond: config.telegram.maxRps,
    onEvent: logRateBudget(logger.child({ component: 'rate-budget' })),
  });
  const clock = options.clock ?? (() => new Date());
  // From the environment's schedules until the runtime reads the ones stored in job_controls.
  const deletionLimits = new DeletionLimits({
    content: config.deletion.maxContentMinutes,
    broadcasts: config.deletion.maxBroadcastMinutes,
  });
  const deleteTime = new DeleteTimeSetting(
    repos.settings,
    config.content.defaultDeleteAfterMinutes,
    deletionLimits,
  );
  const policy = createApiPolicy(config, options.observer, rateBudget);
  const bulkApi = createBulkApi(config.botToken, config.telegram.apiRoot, policy);
  const jobDeps: JobDeps = {
    repos,
    api: bulkApi,
    engine: new DeletionEngine({
      api: bulkApi,
      logger: logger.child({ component: 'deletion' }),
      retry: config.telegram.retry,
    }),
    botUsername: botUsernameOf(bulkApi, options.botUsername),
    timezone: config.scheduler.timezone,
    adminIds: config.adminIds,
    batchSize: config.deletion.batchSize,
    contentSafeLifetimeMs: () => deletionLimits.contentSafeLifetimeMs(),
    telegramRetry: config.telegram.retry,
    concurrency: config.telegram.concurrency,
    backup: {
      db: database.db,
      dir: config.backup.dir,
      keep: config.backup.keep,
      sendToAdmins: config.backup.sendToAdmins,
      adminIds: config.adminIds,
    },
  };
  const runtime = new SchedulerRuntime({
    runs,
    controls: repos.jobControls,
    jobs: createJobs(jobDeps, config.scheduler.schedules),
    timezone: config.scheduler.timezone,
    logger,
    catchUpGraceMs: config.scheduler.catchUpGraceMs,
    retry: { attempts: config.scheduler.retry.attempts, baseDelayMs: config.scheduler.retry.baseDelayMs },
    // Several beats per lease, so one late beat never looks like a dead process.
    heartbeatIntervalMs: Math.max(500, Math.floor(config.scheduler.leaseMs / 6)),
    controlsRefreshMs: config.scheduler.controlsRefreshMs,
    scheduleRule: deletionScheduleRule({
      timezone: config.scheduler.timezone,
      clock,
      deleteTimeMinutes: () => deleteTime.minutes(),
      longestBroadcast: () => repos.broadcasts.longestLifetime(),
    }),
    onScheduleApplied: followDeleterSchedules(deletionLimits, config.scheduler.timezone, clock),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  countRunsDaily(runtime, repos, config, logger, clock);
  return {
    instanceId,
    repos,
    runs,
    policy,
    rateBudget,
    bulkApi,
    jobDeps,
    runtime,
    deletionLimits,
    deleteTime,
  };
}

/** Every finished run (and skipped slot) counts in the daily statistics, by status. */
function countRunsDaily(
  runtime: SchedulerRuntime,
  repos: Repositories,
  config: Config,
  logger: Logger,
  clock: () => Date,
): void {
  const target = { stats: repos.stats, timezone: config.scheduler.timezone, logger };
  runtime.onRunFinished((event) => {
    void countDaily(target, clock(), { runs: { [event.status]: 1 } });
  });
}

function logRateBudget(logger: Logger): (event: RateBudgetEvent) => void {
  return (event) => {
    if (event.type === 'beat-failed') {
      logger.warn(
        { err: event.error },
        'rate budget: could not reach the database; bulk sending stops if this lasts',
      );
    } else if (event.type === 'joined') {
      logger.debug({ waitMs: Math.round(event.sendingFrom - event.at) }, 'rate budget: joined');
    } else if (event.type === 'counted') {
      logger.trace({ members: event.members, allowance: event.allowance }, 'rate budget: counted');
    }
  };
}

export interface AppGraph extends Core {
  bot: ReturnType<typeof createBot>;
  deps: BotDeps;
  broadcaster: Broadcaster;
  alerts: AlertMonitor;
  metrics: OpsMetrics;
  /** The updates being handled right now (a stop waits for them). */
  updates: UpdatesInFlight;
}

/**
 * Everything `npm start` runs: the core plus the grammY bot and its features, the broadcaster, the
 * alerts and the metrics. The bot is created but not initialised (getMe is part of starting).
 */
export function buildApp(options: Omit<CoreOptions, 'observer' | 'botUsername'>): AppGraph {
  const { config, logger } = options;
  const clock = options.clock ?? (() => new Date());
  // The metrics read the backlog from the repositories and count the calls of the clients made next.
  const repos = createRepositories(options.database.collections, {
    statsRetentionDays: config.stats.retentionDays,
  });
  const metrics = new OpsMetrics({ backlog: repos, logger, clock });
  const core = buildCore({ ...options, repos, observer: metrics.apiObserver });
  const { runtime, policy, bulkApi, instanceId, deletionLimits, deleteTime } = core;
  metrics.watch(runtime);
  const bot = createBot({
    token: config.botToken,
    apiRoot: config.telegram.apiRoot,
    policy,
    logger: logger.child({ component: 'bot' }),
  });
  const broadcaster = new Broadcaster({
    api: bulkApi,
    progressApi: bot.api,
    gate: policy.gate,
    repos,
    logger: logger.child({ component: 'broadcast' }),
    clock,
    instanceId,
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
    deletionLimits,
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
      logger: logger.child({ component: 'access' }),
    }),
    content: new ContentService(repos.contents, repos.pendingDeletions, {
      protectContent: config.content.protect,
    }),
    deleteTime,
    broadcaster,
  };
  const updates = new UpdatesInFlight();
  installFeatures(bot, deps, { inFlight: updates, userLimitPerMinute: config.updates.userLimitPerMinute });
  const alerts = new AlertMonitor({
    runs: repos.runHistory,
    alerts: new AlertsRepository(options.database.collections.alerts, instanceId),
    api: bulkApi,
    adminIds: config.adminIds,
    deletions: repos.pendingDeletions,
    logger,
    failureThreshold: config.alerts.failureThreshold,
    deletionLagMs: config.alerts.deletionLagMs,
    secrets: [config.botToken],
    clock,
  });
  alerts.watch(runtime);
  return { ...core, bot, deps, broadcaster, alerts, metrics, updates };
}
