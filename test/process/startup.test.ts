import { describe, expect, it } from 'vitest';
import { runScript } from '../support/processes.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';

describe('npm start refusing to run', () => {
  it('names BOT_TOKEN in one line, exits 1 and prints no stack when it is missing', async () => {
    const result = await runScript('src/main.ts');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/BOT_TOKEN is required/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('lists every invalid variable, one line each', async () => {
    const result = await runScript('src/main.ts', [], {
      env: { BOT_TOKEN: TOKEN, LOG_LEVEL: 'loud', SCHEDULER_TIMEZONE: 'Nowhere/City' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'Configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'Configuration error: SCHEDULER_TIMEZONE must be an IANA time zone such as UTC or Europe/Berlin, got "Nowhere/City"',
    ]);
  });

  it('refuses an invalid cron expression, naming the variable', async () => {
    const result = await runScript('src/main.ts', [], {
      env: { BOT_TOKEN: TOKEN, MESSAGE_DELETER_CRON: '*/0 * * *' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^Configuration error: MESSAGE_DELETER_CRON is not a valid cron expression \("\*\/0 \* \* \*"\)/,
      ),
    ]);
  });

  it('refuses a DASHBOARD_TOKEN under 32 characters in one line that does not repeat it', async () => {
    const result = await runScript('src/main.ts', [], {
      env: { BOT_TOKEN: TOKEN, HTTP_PORT: '9464', DASHBOARD_TOKEN: 'too-short-secret' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'Configuration error: DASHBOARD_TOKEN must be at least 32 characters (got 16); e.g. openssl rand -hex 32',
    ]);
    expect(result.stdout + result.stderr).not.toContain('too-short-secret');
  });

  it('says how to get a database when MONGODB_URI is unset and no local mongod can start', async () => {
    const result = await runScript('src/main.ts', [], {
      env: { BOT_TOKEN: TOKEN, MONGOMS_SYSTEM_BINARY: '/nonexistent/mongod' },
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^MONGODB_URI is not set.*Set MONGODB_URI.*npm run db:emulator/);
    expect(result.stderr).not.toContain(TOKEN);
  });

  it('names the server it cannot reach without printing the password or the token', async () => {
    const result = await runScript('src/main.ts', [], {
      env: {
        BOT_TOKEN: TOKEN,
        MONGODB_URI: 'mongodb://admin:hunter2-secret@127.0.0.1:9/?serverSelectionTimeoutMS=300',
      },
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/cannot reach MongoDB at mongodb:\/\/admin:\[REDACTED\]@127\.0\.0\.1:9/);
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  });
});
