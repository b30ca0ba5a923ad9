import { DeletionEngine } from '../../bot/deletion/deletion-engine.js';
import { safeLifetimeMs } from '../../bot/deletion/deletion-window.js';
import { createApiPolicy, createBulkApi } from '../../bot/telegram/api.js';
import { FloodGate, type TimeSource } from '../../bot/telegram/flood-gate.js';
import { createRateLimiter, type RateLimitOptions } from '../../bot/telegram/rate-limiter.js';
import { createRepositories } from '../../db/repositories/index.js';
import type { JobDeps, RunInput } from '../../schedulers/jobs/deps.js';
import { type FakeBotApi, type FakeBotApiOptions, startFakeBotApi } from './fake-bot-api/index.js';
import { type CapturedLogger, captureLogs } from './logs.js';
import type { TestDatabase } from './test-db.js';

/** The default start of a harness's clock; tests pass their own `now`. */
export const HARNESS_EPOCH = new Date('2026-03-10T12:00:00Z');

export interface JobHarness {
  fake: FakeBotApi;
  deps: JobDeps;
  logs: CapturedLogger;
  gate: FloodGate;
  /** Flood waits the jobs sat out, in ms (the gate's waits move the shared clock, not real time). */
  gateWaits(): number[];
  /**
   * The clock the jobs and the fake Bot API share (the 48-hour rule, message dates, flood
   * control). It ticks with real time from wherever a test set it, so rate windows move on.
   */
  now(): Date;
  setNow(at: Date): void;
  advance(ms: number): void;
  /**
   * A run's input at `now` (which becomes the shared clock's time, so what the fake sees and
   * what the job sees agree).
   */
  input(
    now: Date,
    options?: { signal?: AbortSignal; dryRun?: boolean; confirmClaim?: () => Promise<void> },
  ): RunInput;
  close(): Promise<void>;
}

/**
 * The real job code wired to the fake Bot API over HTTP and the test database through the
 * driver, with the same API pipeline (limiter, flood gate) the bot's jobs use. The fake runs on
 * the harness's clock, so the 48-hour rule applies to what the jobs schedule.
 */
export async function startJobHarness(
  database: Pick<TestDatabase, 'collections' | 'db'>,
  options: {
    fake?: Omit<FakeBotApiOptions, 'now'>;
    limits?: RateLimitOptions;
    batchSize?: number;
    timezone?: string;
    /** Where the shared clock starts (default HARNESS_EPOCH). */
    now?: Date;
    /** How the flood gate waits (default: by moving the shared clock, at once). */
    gateTime?: TimeSource;
    /** The backup job's BACKUP_DIR (the other settings are set on `deps.backup` by the test). */
    backupDir?: string;
    /** Deleter period assumed for the urgent pass (default one minute, as `* * * * *`). */
    deleterPeriodMs?: number;
    /** ADMIN_IDS, for the jobs that write to admins (default none). */
    adminIds?: readonly number[];
  } = {},
): Promise<JobHarness> {
  let offsetMs = (options.now ?? HARNESS_EPOCH).getTime() - Date.now();
  const nowMs = () => Date.now() + offsetMs;
  const fake = await startFakeBotApi({ ...options.fake, now: nowMs });
  const logs = captureLogs([fake.token]);
  const waits: number[] = [];
  const sharedTime: TimeSource = {
    now: nowMs,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      waits.push(ms);
      offsetMs += ms;
    },
  };
  const gate = new FloodGate(options.gateTime ?? sharedTime);
  const api = createBulkApi(
    fake.token,
    fake.apiRoot,
    createApiPolicy({
      limiter: createRateLimiter(options.limits ?? { maxPerSecond: 1_000, perChatPerSecond: 1_000 }),
      gate,
      maxRetryAfterSeconds: 5,
      maxRateLimitRetries: 5,
    }),
  );
  const telegramRetry = { retries: 2, baseDelayMs: 5 };
  const deps: JobDeps = {
    repos: createRepositories(database.collections),
    api,
    engine: new DeletionEngine({ api, logger: logs.logger, retry: telegramRetry }),
    botUsername: async () => fake.botInfo.username,
    timezone: options.timezone ?? 'UTC',
    adminIds: options.adminIds ?? [],
    batchSize: options.batchSize ?? 50,
    contentSafeLifetimeMs: () => safeLifetimeMs(options.deleterPeriodMs ?? 60_000),
    telegramRetry,
    concurrency: 20,
    backup: {
      db: database.db,
      dir: options.backupDir ?? '/nonexistent/backups-not-configured',
      keep: 7,
      sendToAdmins: false,
      adminIds: [],
    },
  };
  return {
    fake,
    deps,
    logs,
    gate,
    gateWaits: () => [...waits],
    now: () => new Date(nowMs()),
    setNow: (at) => {
      offsetMs = at.getTime() - Date.now();
    },
    advance: (ms) => {
      offsetMs += ms;
    },
    input: (now, extra = {}) => {
      offsetMs = now.getTime() - Date.now();
      return {
        now,
        clock: () => new Date(nowMs()),
        signal: extra.signal ?? new AbortController().signal,
        logger: logs.logger,
        dryRun: extra.dryRun ?? false,
        confirmClaim: extra.confirmClaim ?? (async () => {}),
      };
    },
    close: () => fake.stop(),
  };
}
