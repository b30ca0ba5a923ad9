import type { Api } from 'grammy';
import { DeletionEngine } from '../bot/deletion/deletion-engine.js';
import { type ApiObserver, type ApiPolicy, createApiPolicy as policyFrom } from '../bot/telegram/api.js';
import { createRateLimiter } from '../bot/telegram/rate-limiter.js';
import type { Database } from '../db/client.js';
import { createRepositories, type Repositories } from '../db/repositories/index.js';
import { createJobs, type JobDeps } from '../schedulers/jobs/index.js';
import { SchedulerRuntime } from '../schedulers/runtime.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/**
 * One call pipeline per process: the bot's replies and the jobs' deletions share its limits and
 * its flood gate.
 */
export function createApiPolicy(config: Config, observer?: ApiObserver): ApiPolicy {
  return policyFrom({
    limiter: createRateLimiter({
      maxPerSecond: config.telegram.maxRps,
      perChatPerSecond: config.telegram.perChatRps,
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

export interface Maintenance {
  runtime: SchedulerRuntime;
  deps: JobDeps;
  repos: Repositories;
}

/** The four jobs on the scheduler runtime, wired to the database and a bulk-lane Bot API client. */
export function createMaintenance(options: {
  config: Config;
  database: Database;
  /** The bulk lane (createBulkApi): deletions and notices wait out flood control. */
  api: Api;
  logger: Logger;
  botUsername: () => Promise<string>;
  instanceId?: string;
  clock?: () => Date;
}): Maintenance {
  const { config, database, api, logger } = options;
  const repos = createRepositories(database.collections);
  const deps: JobDeps = {
    repos,
    api,
    engine: new DeletionEngine({
      api,
      logger: logger.child({ component: 'deletion' }),
      retry: config.telegram.retry,
    }),
    botUsername: options.botUsername,
    timezone: config.scheduler.timezone,
    batchSize: config.deletion.batchSize,
    contentSafeLifetimeMs: config.deletion.maxContentMinutes * 60_000,
    telegramRetry: config.telegram.retry,
    concurrency: config.telegram.concurrency,
  };
  const runtime = new SchedulerRuntime({
    db: database.db,
    jobs: createJobs(deps, config.scheduler.schedules),
    timezone: config.scheduler.timezone,
    logger,
    historyDays: config.scheduler.historyDays,
    catchUpGraceMs: config.scheduler.catchUpGraceMs,
    retry: { attempts: config.scheduler.retry.attempts, baseDelayMs: config.scheduler.retry.baseDelayMs },
    leaseMs: config.scheduler.leaseMs,
    // Several beats per lease, so one late beat never looks like a dead process.
    heartbeatIntervalMs: Math.max(500, Math.floor(config.scheduler.leaseMs / 6)),
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { runtime, deps, repos };
}
