import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeBotApi, startFakeBotApi } from '../support/fake-bot-api/index.js';
import { startScript } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { waitFor } from '../support/wait.js';

describe('npm start: the real process', () => {
  const db = useTestDatabase();
  let fake: FakeBotApi;

  beforeAll(async () => {
    fake = await startFakeBotApi();
  });
  afterAll(() => fake.stop());

  it('starts the schedulers, answers users, and on SIGTERM stops polling and the schedulers together and exits 0', async () => {
    const bot = startScript('src/main.ts', [], {
      env: {
        BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.apiRoot,
        MONGODB_URI: db().uri,
        MONGODB_DB: db().dbName,
        ADMIN_IDS: '1',
        LOG_FORMAT: 'json',
      },
    });
    await bot.waitForLine((line) => line.includes('bot is polling for updates'));

    fake.sendUserMessage({ from: { id: 77, first_name: 'Zoe' }, text: '/start' });
    await waitFor(() => fake.lastBotMessage(77)?.text?.startsWith('Hello, Zoe!'), {
      message: 'the greeting',
    });

    bot.child.kill('SIGTERM');
    const result = await bot.exited;
    expect(result.code).toBe(0);
    const messages = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; level: string });
    const texts = messages.map((line) => line.msg);
    const order = [
      'message-deleter: every minute (UTC)',
      'bot is polling for updates',
      'stop requested',
      'stopping: polling, schedulers and broadcasts wind down together',
      'scheduler stopped',
      'schedulers stopped',
      'MongoDB connection closed',
    ].map((text) => texts.indexOf(text));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(messages.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(fake.token);
  });

  it('refuses to start with a token Telegram rejects: one line, exit 1', async () => {
    const bot = startScript('src/main.ts', [], {
      env: {
        BOT_TOKEN: '123456:WRONG-token',
        TELEGRAM_API_ROOT: fake.apiRoot,
        MONGODB_URI: db().uri,
        MONGODB_DB: db().dbName,
        LOG_FORMAT: 'json',
      },
    });
    const result = await bot.exited;
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'Telegram rejected BOT_TOKEN (401 Unauthorized): check the token @BotFather gave you.',
    ]);
  });
});
