import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';

function problemsOf(env: Record<string, string | undefined>): string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected the configuration to be refused');
  return result.problems;
}

describe('parseConfig', () => {
  it('reads the backup settings and refuses a BACKUP_KEEP below one or a bad BACKUP_SEND_TO_ADMINS', () => {
    const set = parseConfig({
      BOT_TOKEN: TOKEN,
      BACKUP_DIR: '/var/backups/bot',
      BACKUP_KEEP: '30',
      BACKUP_SEND_TO_ADMINS: 'true',
      BACKUP_CRON: '0 4 * * *',
    });
    expect(set.ok && set.config.backup).toEqual({ dir: '/var/backups/bot', keep: 30, sendToAdmins: true });
    expect(set.ok && set.config.scheduler.schedules.backup).toBe('0 4 * * *');
    const bad = parseConfig({ BOT_TOKEN: TOKEN, BACKUP_KEEP: '0', BACKUP_SEND_TO_ADMINS: 'maybe' });
    expect(bad.ok).toBe(false);
    const problems = bad.ok ? [] : bad.problems;
    expect(problems.some((problem) => problem.startsWith('BACKUP_KEEP '))).toBe(true);
    expect(problems.some((problem) => problem.startsWith('BACKUP_SEND_TO_ADMINS '))).toBe(true);
  });

  it('gives every optional setting its documented default', () => {
    const result = parseConfig({ BOT_TOKEN: TOKEN });
    expect(result).toEqual({
      ok: true,
      config: {
        env: 'development',
        botToken: TOKEN,
        mongodb: {
          uri: undefined,
          dbName: 'telegram_bot',
          dataDir: './data/mongodb',
          indexBuildTimeoutMs: 600_000,
        },
        adminIds: [],
        telegram: {
          apiRoot: 'https://api.telegram.org',
          maxRps: 25,
          perChatRps: 1,
          maxRetryAfterSeconds: 60,
          concurrency: 10,
          retry: { retries: 3, baseDelayMs: 1_000 },
        },
        // 48 hours less the margin, the run allowance and each deleter's period.
        deletion: { batchSize: 200, maxContentMinutes: 47 * 60 + 39, maxBroadcastMinutes: 46 * 60 + 40 },
        http: { port: undefined, host: '127.0.0.1' },
        alerts: { failureThreshold: 3, deletionLagMs: 15 * 60_000 },
        log: { level: 'info', format: 'auto' },
        stats: { retentionDays: 400 },
        backup: { dir: './backups', keep: 7, sendToAdmins: false },
        scheduler: {
          enabled: true,
          timezone: 'UTC',
          schedules: {
            'token-cleanup': '0 0,12 * * *',
            'message-deleter': '* * * * *',
            'broadcast-deleter': '0 * * * *',
            'token-count-reset': '0 0 * * *',
            digest: '0 9 * * *',
            backup: '30 3 * * *',
          },
          historyDays: 30,
          catchUpGraceMs: 24 * 3_600_000,
          retry: { attempts: 3, baseDelayMs: 2_000 },
          shutdownTimeoutMs: 10_000,
          leaseMs: 60_000,
          controlsRefreshMs: 5_000,
        },
        tokens: { expiryDays: 2, dailyLimit: 3, verifyLinkTemplate: undefined },
        updates: { mode: 'polling', concurrency: 100, userLimitPerMinute: 60, webhook: undefined },
        content: { defaultDeleteAfterMinutes: 30, protect: true },
      },
    });
  });

  it('accepts 6-field cron expressions with seconds and rejects invalid ones by name', () => {
    const result = parseConfig({ BOT_TOKEN: TOKEN, MESSAGE_DELETER_CRON: ' */30  * * * * * ' });
    expect(result.ok && result.config.scheduler.schedules['message-deleter']).toBe('*/30 * * * * *');
    expect(
      problemsOf({
        BOT_TOKEN: TOKEN,
        TOKEN_CLEANUP_CRON: '61 * * * *',
        BROADCAST_DELETER_CRON: 'every hour',
        TOKEN_COUNT_RESET_CRON: '0 0 30 2 *',
        SCHEDULERS_ENABLED: 'maybe',
      }),
    ).toEqual([
      'SCHEDULERS_ENABLED must be true or false, got "maybe"',
      'TOKEN_CLEANUP_CRON is not a valid cron expression ("61 * * * *"): 61 is a invalid expression for minute',
      'BROADCAST_DELETER_CRON is not a valid cron expression ("every hour"): expected 5 or 6 fields but got 2',
      expect.stringMatching(/^TOKEN_COUNT_RESET_CRON is not a valid cron expression \("0 0 30 2 \*"\): /),
    ]);
  });

  it('#10.11 refuses a schedule restricting both the day of the month and the day of the week, naming it', () => {
    expect(problemsOf({ BOT_TOKEN: TOKEN, TOKEN_CLEANUP_CRON: '0 0 13 * 5' })).toEqual([
      'TOKEN_CLEANUP_CRON is not a valid cron expression ("0 0 13 * 5"): restricts both the day of the month and the day of the week, which node-cron and cron-parser read differently (one of the two must be *)',
    ]);
    expect(parseConfig({ BOT_TOKEN: TOKEN, TOKEN_CLEANUP_CRON: '0 0 13 * *' }).ok).toBe(true);
    expect(parseConfig({ BOT_TOKEN: TOKEN, TOKEN_CLEANUP_CRON: '0 0 * * 5' }).ok).toBe(true);
  });

  it('#10.3 derives the longest content and broadcast lifetimes from the deleters’ schedules and refuses more', () => {
    const hourly = parseConfig({ BOT_TOKEN: TOKEN, MESSAGE_DELETER_CRON: '*/5 * * * *' });
    expect(hourly.ok && hourly.config.deletion.maxContentMinutes).toBe(48 * 60 - 20 - 5);
    expect(problemsOf({ BOT_TOKEN: TOKEN, DELETE_AFTER_MINUTES: '2880' })).toEqual([
      "DELETE_AFTER_MINUTES must be at most 2859 (47 h 39 min): content must be deleted within Telegram's 48 hours, leaving room for MESSAGE_DELETER_CRON's schedule; got 2880",
    ]);
    expect(parseConfig({ BOT_TOKEN: TOKEN, DELETE_AFTER_MINUTES: '2859' }).ok).toBe(true);
    // A deleter that runs only every other day could never delete inside the 48 hours.
    expect(problemsOf({ BOT_TOKEN: TOKEN, BROADCAST_DELETER_CRON: '0 0 */2 * *' })).toEqual([
      expect.stringMatching(
        /^BROADCAST_DELETER_CRON leaves up to \d+ h between runs \("0 0 \*\/2 \* \*"\), too long to delete anything within Telegram's 48 hours/,
      ),
    ]);
  });

  it('reads every variable it knows', () => {
    const result = parseConfig({
      BOT_TOKEN: TOKEN,
      NODE_ENV: 'production',
      MONGODB_URI: 'mongodb://user:pw@db.example:27017/?authSource=admin',
      MONGODB_DB: 'bot_prod',
      ADMIN_IDS: ' 42, 7 ,42',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:8081/',
      LOG_LEVEL: 'DEBUG',
      LOG_FORMAT: 'json',
      SCHEDULER_TIMEZONE: 'Europe/Berlin',
      TOKEN_EXPIRY_DAYS: '0.5',
    });
    expect(result.ok && result.config).toMatchObject({
      env: 'production',
      mongodb: { uri: 'mongodb://user:pw@db.example:27017/?authSource=admin', dbName: 'bot_prod' },
      adminIds: [42, 7],
      telegram: { apiRoot: 'http://127.0.0.1:8081' },
      log: { level: 'debug', format: 'json' },
      scheduler: { timezone: 'Europe/Berlin' },
      tokens: { expiryDays: 0.5 },
    });
  });

  it('treats blank values as unset', () => {
    const result = parseConfig({ BOT_TOKEN: TOKEN, LOG_LEVEL: '', ADMIN_IDS: '  ', MONGODB_URI: '' });
    expect(result.ok && result.config.log.level).toBe('info');
    expect(result.ok && result.config.adminIds).toEqual([]);
    expect(result.ok && result.config.mongodb.uri).toBeUndefined();
  });

  it('names BOT_TOKEN when it is missing or blank', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^BOT_TOKEN is required/)]);
    expect(problemsOf({ BOT_TOKEN: '   ' })).toEqual([expect.stringMatching(/^BOT_TOKEN is required/)]);
  });

  it('gives one specific line per invalid variable', () => {
    const problems = problemsOf({
      BOT_TOKEN: 'not-a-token',
      MONGODB_URI: 'postgres://localhost',
      MONGODB_DB: 'has space',
      ADMIN_IDS: '1,abc',
      TELEGRAM_API_ROOT: 'ftp://x',
      LOG_LEVEL: 'loud',
      LOG_FORMAT: 'xml',
      SCHEDULER_TIMEZONE: 'Mars/Olympus',
      TOKEN_EXPIRY_DAYS: '-1',
    });
    expect(problems).toEqual([
      'BOT_TOKEN must look like 123456789:AA... (digits, a colon, then the secret)',
      'MONGODB_URI must start with mongodb:// or mongodb+srv://',
      expect.stringMatching(/^MONGODB_DB must be a MongoDB database name/),
      'ADMIN_IDS must be comma-separated Telegram user ids like "12345,67890"; "abc" is not a user id',
      'TELEGRAM_API_ROOT must be an http(s) URL such as https://api.telegram.org',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'LOG_FORMAT must be one of auto, json, pretty, got "xml"',
      'SCHEDULER_TIMEZONE must be an IANA time zone such as UTC or Europe/Berlin, got "Mars/Olympus"',
      'TOKEN_EXPIRY_DAYS must be a number above 0 and at most 365, got "-1"',
    ]);
  });

  it('never echoes the secret part of a malformed token', () => {
    const problems = problemsOf({ BOT_TOKEN: 'secret value with spaces' });
    expect(problems.join('\n')).not.toContain('secret value');
  });

  it('requires MONGODB_URI in production, where no local database is started', () => {
    expect(problemsOf({ BOT_TOKEN: TOKEN, NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^MONGODB_URI is required when NODE_ENV=production/),
    ]);
  });
});

describe('.env.example', () => {
  it('documents every variable the bot reads, and nothing else', async () => {
    const { readFile } = await import('node:fs/promises');
    const { ENV_VARIABLES } = await import('../../src/config.js');
    const text = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    const documented = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect([...documented].sort()).toEqual([...ENV_VARIABLES].sort());
  });
});

describe('webhook settings (#12)', () => {
  const webhook = { BOT_TOKEN: TOKEN, BOT_MODE: 'webhook' };

  it('builds the webhook from the URL, taking its path as the path served', () => {
    const result = parseConfig({
      ...webhook,
      WEBHOOK_URL: 'https://bot.example.com:8443/tg/hook',
      WEBHOOK_SECRET: 's3cret_-X',
    });
    expect(result).toMatchObject({
      ok: true,
      config: {
        updates: {
          mode: 'webhook',
          webhook: {
            url: 'https://bot.example.com:8443/tg/hook',
            path: '/tg/hook',
            secret: 's3cret_-X',
            port: 8080,
            host: '0.0.0.0',
            maxConnections: 40,
          },
        },
      },
    });
  });

  it.each([
    [{ WEBHOOK_SECRET: 'x' }, /^WEBHOOK_URL is required when BOT_MODE=webhook/],
    [{ WEBHOOK_URL: 'https://bot.example.com/hook' }, /^WEBHOOK_SECRET is required when BOT_MODE=webhook/],
    [
      { WEBHOOK_URL: 'http://bot.example.com/hook', WEBHOOK_SECRET: 'x' },
      /^WEBHOOK_URL must be the public https URL/,
    ],
    [
      { WEBHOOK_URL: 'https://bot.example.com:9000/hook', WEBHOOK_SECRET: 'x' },
      /^WEBHOOK_URL must use port 443, 80, 88 or 8443/,
    ],
    [
      { WEBHOOK_URL: 'https://bot.example.com/hook?x=1', WEBHOOK_SECRET: 'x' },
      /^WEBHOOK_URL must not have a query/,
    ],
    [
      { WEBHOOK_URL: 'https://bot.example.com/hook', WEBHOOK_SECRET: 'has space' },
      /^WEBHOOK_SECRET must be 1-256 characters/,
    ],
    [
      { WEBHOOK_URL: 'https://bot.example.com/hook', WEBHOOK_SECRET: 'a'.repeat(257) },
      /^WEBHOOK_SECRET must be 1-256 characters/,
    ],
    [
      { WEBHOOK_URL: 'https://bot.example.com/hook', WEBHOOK_SECRET: 'x', WEBHOOK_MAX_CONNECTIONS: '101' },
      /^WEBHOOK_MAX_CONNECTIONS must be between 1 and 100/,
    ],
    [{ BOT_MODE: 'push' }, /^BOT_MODE must be one of polling, webhook/],
    [{ BOT_CONCURRENCY: '0' }, /^BOT_CONCURRENCY must be between 1 and 10000/],
  ])('refuses bad webhook settings with one line naming the variable: %o', (extra, message) => {
    const result = parseConfig({ ...webhook, ...extra });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(message);
    expect(result.problems[0]).not.toContain('\n');
  });

  it('does not ask for webhook settings in polling mode', () => {
    expect(parseConfig({ BOT_TOKEN: TOKEN }).ok).toBe(true);
  });
});

describe('dashboard settings', () => {
  const GOOD = 'd'.repeat(32);

  it('is off without DASHBOARD_TOKEN, and on with defaults when it is set with HTTP_PORT', () => {
    const off = parseConfig({ BOT_TOKEN: TOKEN });
    expect(off.ok && off.config.dashboard).toBeUndefined();
    const on = parseConfig({ BOT_TOKEN: TOKEN, HTTP_PORT: '9464', DASHBOARD_TOKEN: GOOD });
    expect(on.ok && on.config.dashboard).toEqual({
      adminToken: GOOD,
      readonlyToken: undefined,
      sessionHours: 12,
      insecureCookie: false,
    });
    expect(on.ok && on.config.http.host).toBe('127.0.0.1');
  });

  it.each([
    [{ DASHBOARD_TOKEN: 'short-token' }, /^DASHBOARD_TOKEN must be at least 32 characters \(got 11\)/],
    [{ DASHBOARD_TOKEN: `${'x'.repeat(20)} ${'y'.repeat(20)}` }, /^DASHBOARD_TOKEN must not contain spaces/],
    [
      { DASHBOARD_TOKEN: GOOD, DASHBOARD_READONLY_TOKEN: 'r'.repeat(31) },
      /^DASHBOARD_READONLY_TOKEN must be at least 32/,
    ],
    [
      { DASHBOARD_TOKEN: GOOD, DASHBOARD_READONLY_TOKEN: GOOD },
      /^DASHBOARD_READONLY_TOKEN must differ from DASHBOARD_TOKEN/,
    ],
    [
      { DASHBOARD_TOKEN: undefined, DASHBOARD_READONLY_TOKEN: GOOD },
      /^DASHBOARD_READONLY_TOKEN needs DASHBOARD_TOKEN/,
    ],
    [{ DASHBOARD_TOKEN: GOOD, HTTP_PORT: undefined }, /^DASHBOARD_TOKEN needs HTTP_PORT/],
    [
      { DASHBOARD_TOKEN: GOOD, DASHBOARD_SESSION_HOURS: '0' },
      /^DASHBOARD_SESSION_HOURS must be between 1 and 720/,
    ],
    [{ DASHBOARD_TOKEN: GOOD, DASHBOARD_INSECURE_COOKIE: 'perhaps' }, /^DASHBOARD_INSECURE_COOKIE /],
    [{ HTTP_TRUSTED_PROXIES: 'my-proxy' }, /^HTTP_TRUSTED_PROXIES must be addresses or CIDR ranges/],
  ])('refuses %o with one line that never repeats a token', (extra, message) => {
    const problems = problemsOf({ BOT_TOKEN: TOKEN, HTTP_PORT: '9464', ...extra });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
    for (const value of Object.values(extra)) {
      if (value !== undefined && value.length >= 11 && !/^\d+$/.test(value))
        expect(problems[0]).not.toContain(value);
    }
  });
});
