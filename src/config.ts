import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { deletionCap } from '../schedulers/deletion-schedules.js';
import { deleterOf, JOB_CATALOG, type JobName } from '../schedulers/jobs/catalog.js';
import {
  adminIds,
  blankToUndefined,
  cron,
  dashboardToken,
  flag,
  httpUrl,
  integer,
  mongoUri,
  oneOf,
  optionalText,
  positiveNumber,
  text,
  timeZone,
  trustedProxies,
  webhookSecret,
  webhookUrl,
} from './env-fields.js';

/**
 * Every setting comes from the environment (optionally through a `.env` file). Each variable is
 * documented in `.env.example`; this schema is the single source of truth for names and defaults,
 * and the `Config` type is derived from it.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const settingsSchema = z.object({
  NODE_ENV: oneOf(['development', 'production', 'test'], 'development'),
  BOT_TOKEN: text('the token @BotFather gave you, like 123456789:AA...').refine(
    (value) => /^\d+:[A-Za-z0-9_-]+$/.test(value),
    { message: 'must look like 123456789:AA... (digits, a colon, then the secret)' },
  ),
  MONGODB_URI: mongoUri,
  MONGODB_DB: z.preprocess(
    blankToUndefined,
    z
      .string()
      .default('telegram_bot')
      .refine((value) => /^[^/\\. "$*<>:|?]{1,63}$/.test(value), {
        message: 'must be a MongoDB database name (no spaces or any of /\\. "$*<>:|?, at most 63 characters)',
      }),
  ),
  MONGODB_DATA_DIR: optionalText(),
  MONGODB_INDEX_BUILD_TIMEOUT_MS: integer({ min: 1_000, max: 86_400_000, fallback: 600_000 }),
  ADMIN_IDS: adminIds,
  TELEGRAM_API_ROOT: httpUrl('https://api.telegram.org'),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
  LOG_FORMAT: oneOf(['auto', 'json', 'pretty'], 'auto'),
  SCHEDULER_TIMEZONE: timeZone,
  TOKEN_EXPIRY_DAYS: positiveNumber(2, 365),
  SCHEDULERS_ENABLED: flag(true),
  RUN_HISTORY_DAYS: integer({ min: 1, max: 3650, fallback: 30 }),
  CATCH_UP_GRACE_HOURS: positiveNumber(24, 24 * 366),
  JOB_RETRY_ATTEMPTS: integer({ min: 1, max: 20, fallback: 3 }),
  JOB_RETRY_BASE_DELAY_MS: integer({ min: 0, max: 3_600_000, fallback: 2_000 }),
  SHUTDOWN_TIMEOUT_MS: integer({ min: 0, max: 600_000, fallback: 10_000 }),
  LEASE_SECONDS: integer({ min: 2, max: 3_600, fallback: 60 }),
  SCHEDULE_REFRESH_SECONDS: integer({ min: 1, max: 8, fallback: 5 }),
  TELEGRAM_MAX_RPS: integer({ min: 1, max: 100_000, fallback: 25 }),
  TELEGRAM_PER_CHAT_RPS: positiveNumber(1, 100),
  TELEGRAM_MAX_RETRY_AFTER_SECONDS: integer({ min: 1, max: 3_600, fallback: 60 }),
  TELEGRAM_RETRY_ATTEMPTS: integer({ min: 0, max: 10, fallback: 3 }),
  TELEGRAM_RETRY_BASE_DELAY_MS: integer({ min: 0, max: 60_000, fallback: 1_000 }),
  DELETION_BATCH_SIZE: integer({ min: 1, max: 10_000, fallback: 200 }),
  PROTECT_CONTENT: flag(true),
  TELEGRAM_CONCURRENCY: integer({ min: 1, max: 1_000, fallback: 10 }),
  DAILY_TOKEN_LIMIT: integer({ min: 0, max: 1_000, fallback: 3 }),
  DELETE_AFTER_MINUTES: integer({ min: 1, max: 48 * 60, fallback: 30 }),
  VERIFY_LINK_TEMPLATE: z.preprocess(
    blankToUndefined,
    z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined) return;
        if (!value.includes('{url}') || !/^https?:\/\/\S+$/.test(value.replace('{url}', 'x'))) {
          ctx.addIssue({
            code: 'custom',
            message: 'must be an http(s) URL containing {url}, e.g. https://short.example/api?url={url}',
          });
        }
      }),
  ),
  BOT_MODE: oneOf(['polling', 'webhook'], 'polling'),
  BOT_CONCURRENCY: integer({ min: 1, max: 10_000, fallback: 100 }),
  USER_RATE_LIMIT_PER_MINUTE: integer({ min: 0, max: 100_000, fallback: 60 }),
  WEBHOOK_URL: webhookUrl,
  WEBHOOK_SECRET: webhookSecret,
  WEBHOOK_PORT: integer({ min: 0, max: 65_535, fallback: 8080 }),
  WEBHOOK_HOST: z.preprocess(blankToUndefined, z.string().default('0.0.0.0')),
  WEBHOOK_MAX_CONNECTIONS: integer({ min: 1, max: 100, fallback: 40 }),
  HTTP_PORT: integer({ min: 0, max: 65_535, fallback: undefined }),
  HTTP_HOST: z.preprocess(blankToUndefined, z.string().default('127.0.0.1')),
  HTTP_TRUSTED_PROXIES: trustedProxies,
  DASHBOARD_TOKEN: dashboardToken,
  DASHBOARD_READONLY_TOKEN: dashboardToken,
  DASHBOARD_SESSION_HOURS: integer({ min: 1, max: 24 * 30, fallback: 12 }),
  DASHBOARD_INSECURE_COOKIE: flag(false),
  ALERT_FAILURE_THRESHOLD: integer({ min: 1, max: 1_000, fallback: 3 }),
  ALERT_DELETION_LAG_MINUTES: positiveNumber(15, 7 * 24 * 60),
  STATS_RETENTION_DAYS: integer({ min: 1, max: 3650, fallback: 400 }),
  BACKUP_DIR: optionalText(),
  BACKUP_KEEP: integer({ min: 1, max: 10_000, fallback: 7 }),
  BACKUP_SEND_TO_ADMINS: flag(false),
});

/** Each job's schedule variable comes from the job catalog, with the job's default. */
const scheduleFields = Object.fromEntries(
  JOB_CATALOG.map((job) => [job.envVar, cron(job.defaultSchedule)]),
) as Record<(typeof JOB_CATALOG)[number]['envVar'], ReturnType<typeof cron>>;

const envSchema = settingsSchema.extend(scheduleFields);
type Env = z.output<typeof envSchema>;

/** Every variable the bot reads (the test suite checks each one is documented in .env.example). */
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export type LogLevel = (typeof LOG_LEVELS)[number];

/** The settings as the code uses them, grouped; `Config` is whatever this returns. */
function toConfig(e: Env, limits: { maxContentMinutes: number; maxBroadcastMinutes: number }) {
  return {
    env: e.NODE_ENV,
    botToken: e.BOT_TOKEN,
    mongodb: {
      /** Unset outside production means "start a local mongod" (see src/local-mongo.ts). */
      uri: e.MONGODB_URI,
      dbName: e.MONGODB_DB,
      dataDir: e.MONGODB_DATA_DIR ?? './data/mongodb',
      /** maxTimeMS of each index build at start; a longer build stops the start. */
      indexBuildTimeoutMs: e.MONGODB_INDEX_BUILD_TIMEOUT_MS,
    },
    adminIds: e.ADMIN_IDS as readonly number[],
    telegram: {
      apiRoot: e.TELEGRAM_API_ROOT,
      maxRps: e.TELEGRAM_MAX_RPS,
      perChatRps: e.TELEGRAM_PER_CHAT_RPS,
      maxRetryAfterSeconds: e.TELEGRAM_MAX_RETRY_AFTER_SECONDS,
      /** Calls a job or broadcast keeps in flight; small, so users' replies never queue behind a big run. */
      concurrency: e.TELEGRAM_CONCURRENCY,
      /** Retries within one run of a call that hit a 5xx or network error. */
      retry: { retries: e.TELEGRAM_RETRY_ATTEMPTS, baseDelayMs: e.TELEGRAM_RETRY_BASE_DELAY_MS },
    },
    deletion: {
      batchSize: e.DELETION_BATCH_SIZE,
      /**
       * The longest lifetime content and broadcasts may be given so that their deletion lands inside
       * Telegram's 48 hours, from each deleter's schedule in the environment (see
       * bot/deletion/deletion-window.ts). A schedule changed while the bot runs changes them: the
       * bot reads them from its DeletionLimits, which start from these.
       */
      maxContentMinutes: limits.maxContentMinutes,
      maxBroadcastMinutes: limits.maxBroadcastMinutes,
    },
    http: {
      port: e.HTTP_PORT,
      host: e.HTTP_HOST,
      /** Behind a reverse proxy: whose X-Forwarded-For names the client (rate limits, audit). */
      trustedProxies: e.HTTP_TRUSTED_PROXIES,
    },
    /** The web dashboard and /api/v1 on the HTTP_PORT server; off without DASHBOARD_TOKEN. */
    dashboard:
      e.DASHBOARD_TOKEN === undefined
        ? undefined
        : {
            adminToken: e.DASHBOARD_TOKEN,
            readonlyToken: e.DASHBOARD_READONLY_TOKEN,
            sessionHours: e.DASHBOARD_SESSION_HOURS,
            /** Plain-http local use only: the session cookie without Secure. */
            insecureCookie: e.DASHBOARD_INSECURE_COOKIE,
          },
    updates: {
      /** polling: one instance at a time long-polls (a lease); webhook: every replica receives. */
      mode: e.BOT_MODE,
      /** Updates handled at once; two updates of one chat never run together. */
      concurrency: e.BOT_CONCURRENCY,
      /** Updates one user may send per minute before being slowed down; 0 turns the limit off. */
      userLimitPerMinute: e.USER_RATE_LIMIT_PER_MINUTE,
      webhook:
        e.BOT_MODE === 'webhook' && e.WEBHOOK_URL !== undefined && e.WEBHOOK_SECRET !== undefined
          ? {
              url: e.WEBHOOK_URL,
              /** The path of the public URL is the path served (a load balancer passes it on). */
              path: new URL(e.WEBHOOK_URL).pathname,
              secret: e.WEBHOOK_SECRET,
              port: e.WEBHOOK_PORT,
              host: e.WEBHOOK_HOST,
              maxConnections: e.WEBHOOK_MAX_CONNECTIONS,
            }
          : undefined,
    },
    alerts: {
      failureThreshold: e.ALERT_FAILURE_THRESHOLD,
      deletionLagMs: e.ALERT_DELETION_LAG_MINUTES * 60_000,
    },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    /** daily_stats: one document per calendar day, dropped by a TTL index after this long. */
    stats: { retentionDays: e.STATS_RETENTION_DAYS },
    backup: {
      /** Where the backup job writes (one directory per backup, named by its UTC time). */
      dir: e.BACKUP_DIR ?? './backups',
      /** Complete backups kept; older ones are removed after each backup. */
      keep: e.BACKUP_KEEP,
      /** Send each backup as one .tar document to every admin (when under Telegram's 50 MB). */
      sendToAdmins: e.BACKUP_SEND_TO_ADMINS,
    },
    scheduler: {
      enabled: e.SCHEDULERS_ENABLED,
      timezone: e.SCHEDULER_TIMEZONE,
      schedules: Object.fromEntries(JOB_CATALOG.map((job) => [job.name, e[job.envVar]])) as Readonly<
        Record<JobName, string>
      >,
      historyDays: e.RUN_HISTORY_DAYS,
      catchUpGraceMs: e.CATCH_UP_GRACE_HOURS * 3_600_000,
      retry: { attempts: e.JOB_RETRY_ATTEMPTS, baseDelayMs: e.JOB_RETRY_BASE_DELAY_MS },
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      /**
       * A process without heartbeat for this long is dead: its running claim is abandoned, and its
       * lease on receiving updates passes to another instance.
       */
      leaseMs: e.LEASE_SECONDS * 1_000,
      /** How often each instance reads the schedules and pauses set at run time (at most 8 s, so a change is in force everywhere within 10 s). */
      controlsRefreshMs: e.SCHEDULE_REFRESH_SECONDS * 1_000,
    },
    tokens: {
      expiryDays: e.TOKEN_EXPIRY_DAYS,
      dailyLimit: e.DAILY_TOKEN_LIMIT,
      /** Wraps the verification deep link (e.g. a link shortener); `{url}` is the encoded link. */
      verifyLinkTemplate: e.VERIFY_LINK_TEMPLATE,
    },
    content: {
      defaultDeleteAfterMinutes: e.DELETE_AFTER_MINUTES,
      /** protect_content on delivered content and broadcasts: no forwarding or saving. */
      protect: e.PROTECT_CONTENT,
    },
  } as const;
}

export type Config = ReturnType<typeof toConfig>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Validates an environment; never throws and never exits, so it is easy to test. */
export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`,
    );
    return { ok: false, problems: [...new Set(problems)] };
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.NODE_ENV === 'production' && e.MONGODB_URI === undefined) {
    problems.push(
      'MONGODB_URI is required when NODE_ENV=production (a local database is only started in development)',
    );
  }
  if (e.BOT_MODE === 'webhook') {
    if (e.WEBHOOK_URL === undefined) {
      problems.push(
        'WEBHOOK_URL is required when BOT_MODE=webhook (the public https URL Telegram posts updates to)',
      );
    }
    if (e.WEBHOOK_SECRET === undefined) {
      problems.push(
        'WEBHOOK_SECRET is required when BOT_MODE=webhook (1-256 characters of A-Z a-z 0-9 _ -; Telegram sends it with every update)',
      );
    }
  }
  if (e.DASHBOARD_TOKEN !== undefined && e.HTTP_PORT === undefined) {
    problems.push('DASHBOARD_TOKEN needs HTTP_PORT: the dashboard is served on the HTTP_PORT server');
  }
  if (e.DASHBOARD_READONLY_TOKEN !== undefined && e.DASHBOARD_TOKEN === undefined) {
    problems.push('DASHBOARD_READONLY_TOKEN needs DASHBOARD_TOKEN (the dashboard is off without it)');
  }
  if (e.DASHBOARD_READONLY_TOKEN !== undefined && e.DASHBOARD_READONLY_TOKEN === e.DASHBOARD_TOKEN) {
    problems.push('DASHBOARD_READONLY_TOKEN must differ from DASHBOARD_TOKEN');
  }
  const contentDeleter = deleterOf('content').envVar as keyof Env;
  const broadcastDeleter = deleterOf('broadcasts').envVar as keyof Env;
  const maxContentMinutes = safeMaxMinutes(
    contentDeleter,
    String(e[contentDeleter]),
    e.SCHEDULER_TIMEZONE,
    problems,
  );
  const maxBroadcastMinutes = safeMaxMinutes(
    broadcastDeleter,
    String(e[broadcastDeleter]),
    e.SCHEDULER_TIMEZONE,
    problems,
  );
  if (maxContentMinutes >= 1 && e.DELETE_AFTER_MINUTES > maxContentMinutes) {
    problems.push(
      `DELETE_AFTER_MINUTES must be at most ${maxContentMinutes} (${describeMinutes(maxContentMinutes)}): content must be deleted within Telegram's 48 hours, leaving room for ${contentDeleter}'s schedule; got ${e.DELETE_AFTER_MINUTES}`,
    );
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: toConfig(e, { maxContentMinutes, maxBroadcastMinutes }) };
}

/**
 * The longest lifetime a deleter with this schedule can honour (whole minutes); a schedule too
 * sparse to delete anything within Telegram's 48 hours is a problem naming its variable.
 */
function safeMaxMinutes(variable: string, schedule: string, timezone: string, problems: string[]): number {
  const { gapMs, maxMinutes: minutes } = deletionCap(schedule, timezone, new Date());
  if (minutes < 1) {
    problems.push(
      `${variable} leaves up to ${describeMinutes(Math.round(gapMs / 60_000))} between runs ("${schedule}"), too long to delete anything within Telegram's 48 hours; run it at least every few hours (default shown in .env.example)`,
    );
  }
  return minutes;
}

function describeMinutes(total: number): string {
  const hours = Math.floor(total / 60);
  const minutes = total % 60;
  return hours === 0 ? `${minutes} min` : minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
}

/** Reads `.env` (without overriding variables already set) and validates the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, envFile = '.env'): ConfigResult {
  loadDotenv({ path: envFile, quiet: true, processEnv: env as Record<string, string> });
  return parseConfig(env);
}

/** The database settings alone, for tools that need no bot token (`npm run db:check`). */
const databaseSchema = settingsSchema.pick({
  MONGODB_URI: true,
  MONGODB_DB: true,
  MONGODB_INDEX_BUILD_TIMEOUT_MS: true,
  LOG_LEVEL: true,
});

export type DatabaseSettings = Pick<Config['mongodb'], 'uri' | 'dbName' | 'indexBuildTimeoutMs'> & {
  logLevel: LogLevel;
};

export function loadDatabaseSettings(
  env: NodeJS.ProcessEnv = process.env,
  envFile = '.env',
): { ok: true; settings: DatabaseSettings } | { ok: false; problems: string[] } {
  loadDotenv({ path: envFile, quiet: true, processEnv: env as Record<string, string> });
  const parsed = databaseSchema.safeParse(env);
  if (!parsed.success) {
    return {
      ok: false,
      problems: [...new Set(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`))],
    };
  }
  const e = parsed.data;
  return {
    ok: true,
    settings: {
      uri: e.MONGODB_URI,
      dbName: e.MONGODB_DB,
      indexBuildTimeoutMs: e.MONGODB_INDEX_BUILD_TIMEOUT_MS,
      logLevel: e.LOG_LEVEL,
    },
  };
}

/**
 * For command-line tools that only touch the database (db:check, restore): the settings with a
 * MONGODB_URI, or undefined after one line per problem on stderr. `needsUri` says why the tool
 * needs one.
 */
export function databaseSettingsForTool(needsUri: string): (DatabaseSettings & { uri: string }) | undefined {
  const loaded = loadDatabaseSettings();
  if (!loaded.ok) {
    for (const problem of loaded.problems) console.error(`Configuration error: ${problem}`);
    return undefined;
  }
  const { settings } = loaded;
  if (settings.uri === undefined) {
    console.error(`MONGODB_URI is not set: ${needsUri}`);
    return undefined;
  }
  return { ...settings, uri: settings.uri };
}

export { isValidTimeZone } from './env-fields.js';
