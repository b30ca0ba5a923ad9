import { DeletionEngine } from '../../bot/deletion/deletion-engine.js';
import { createApi } from '../../bot/telegram/api.js';
import { createRateLimiter, type RateLimitOptions } from '../../bot/telegram/rate-limiter.js';
import { createRepositories } from '../../db/repositories/index.js';
import type { JobDeps, RunInput } from '../../schedulers/jobs/deps.js';
import { type FakeBotApi, type FakeBotApiOptions, startFakeBotApi } from './fake-bot-api/index.js';
import { type CapturedLogger, captureLogs } from './logs.js';
import type { TestDatabase } from './test-db.js';

export interface JobHarness {
  fake: FakeBotApi;
  deps: JobDeps;
  logs: CapturedLogger;
  input(now: Date, options?: { signal?: AbortSignal; dryRun?: boolean }): RunInput;
  close(): Promise<void>;
}

/**
 * The real job code wired to the fake Bot API over HTTP and the test database through the
 * driver, with the same API pipeline (limiter, auto-retry) the bot uses.
 */
export async function startJobHarness(
  database: TestDatabase,
  options: {
    fake?: FakeBotApiOptions;
    limits?: RateLimitOptions;
    batchSize?: number;
    maxAttempts?: number;
    timezone?: string;
  } = {},
): Promise<JobHarness> {
  const fake = await startFakeBotApi(options.fake);
  const logs = captureLogs([fake.token]);
  const api = createApi(fake.token, fake.apiRoot, {
    limiter: createRateLimiter(options.limits ?? { maxPerSecond: 1_000, perChatPerSecond: 1_000 }),
    maxRetryAfterSeconds: 5,
    maxRateLimitRetries: 5,
  });
  const telegramRetry = { retries: 2, baseDelayMs: 5 };
  const deps: JobDeps = {
    repos: createRepositories(database.collections),
    api,
    engine: new DeletionEngine({ api, logger: logs.logger, retry: telegramRetry }),
    botUsername: async () => fake.botInfo.username,
    timezone: options.timezone ?? 'UTC',
    batchSize: options.batchSize ?? 50,
    maxAttempts: options.maxAttempts ?? 3,
    telegramRetry,
    concurrency: 20,
  };
  return {
    fake,
    deps,
    logs,
    input: (now, extra = {}) => ({
      now,
      signal: extra.signal ?? new AbortController().signal,
      logger: logs.logger,
      dryRun: extra.dryRun ?? false,
    }),
    close: () => fake.stop(),
  };
}
