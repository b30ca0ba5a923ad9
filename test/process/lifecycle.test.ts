import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startScript } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

describe('npm start: the real process', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');

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
    expect(
      [...order].sort((a, b) => a - b),
      texts.join('\n'),
    ).toEqual(order);
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

  it('#10.11 the compiled bot runs with plain node, and a SIGTERM to its process group twice still ends in an orderly stop and exit 0', async () => {
    // Must hold: `npm run build` output runs without tsx; a stop signal that reaches it twice (a
    // terminal's Ctrl-C or systemd signal the whole group) does not cut the stop short.
    execFileSync(
      process.execPath,
      [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: PROJECT_ROOT,
      },
    );
    // A notice on the wire when the signals come: a call that may create a message is not cut off,
    // so the stop waits for it (it is slow), long enough for the second signal to arrive in the
    // middle of the stop. (Two signals sent at
    // once would merge into one: Linux does not queue a pending signal twice.)
    fake.addChat(79, { user: { id: 79, first_name: 'Xia' } });
    const messageIds = fake.seedMessages(79, 2);
    await db().collections.pendingDeletions.insertOne({
      user_id: 79,
      chat_id: 79,
      message_ids: messageIds,
      delete_at: new Date(Date.now() - 60_000),
      content_id: 'inflight01',
      created_at: new Date(Date.now() - 31 * 60_000),
    });
    fake.setLatency('sendMessage', 1_500);
    const bot = startScript('dist/src/main.js', [], {
      command: [process.execPath],
      env: {
        BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.apiRoot,
        MONGODB_URI: db().uri,
        MONGODB_DB: db().dbName,
        LOG_FORMAT: 'json',
        MESSAGE_DELETER_CRON: '* * * * * *',
      },
    });
    await bot.waitForLine((line) => line.includes('bot is polling for updates'));
    const pid = bot.child.pid as number;
    await waitFor(() => fake.callsInFlight('sendMessage') > 0, { message: 'a notice on the wire' });
    process.kill(-pid, 'SIGTERM');
    await bot.waitForLine((line) => line.includes('stop requested'));
    process.kill(-pid, 'SIGTERM');
    const result = await bot.exited;
    expect(result.code).toBe(0);
    const texts = result.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    const order = ['stop requested', 'scheduler stopped', 'MongoDB connection closed'].map((text) =>
      texts.indexOf(text),
    );
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(texts, result.stdout + result.stderr).toContain('already stopping; the signal is ignored');
    fake.setLatency('sendMessage', 0);
    // The notice on the wire when the stop came went out, and its record was written off.
    expect(fake.messages(79).map((message) => message.text)).toEqual([expect.stringMatching(/^🗑/)]);
    expect(await db().collections.pendingDeletions.countDocuments({ chat_id: 79 })).toBe(0);
  }, 60_000);
});
