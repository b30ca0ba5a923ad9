import { describe, expect, it } from 'vitest';
import { startScript } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'process_Secret-7';
const WEBHOOK_URL = 'https://bot.example:8443/tg/in';

describe('npm start in webhook mode: the real process', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  const env = () => ({
    BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MONGODB_URI: db().uri,
    MONGODB_DB: db().dbName,
    LOG_FORMAT: 'json',
    BOT_MODE: 'webhook',
    WEBHOOK_URL,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_PORT: '0',
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_MAX_CONNECTIONS: '25',
  });

  it('sets the webhook, handles a posted update, and exits 0 on SIGTERM', async () => {
    const bot = startScript('src/main.ts', [], { env: env() });
    const listening = await bot.waitForLine((line) => line.includes('webhook endpoint listening'));
    const { url, path } = JSON.parse(listening) as { url: string; path: string };
    await bot.waitForLine((line) => line.includes('Telegram posts updates to the webhook'));
    expect(fake.calls.filter((call) => call.method === 'setWebhook').map((call) => call.params)).toEqual([
      {
        url: WEBHOOK_URL,
        secret_token: SECRET,
        allowed_updates: ['message', 'callback_query', 'my_chat_member'],
        max_connections: 25,
        drop_pending_updates: false,
      },
    ]);
    expect(fake.callCount('getUpdates')).toBe(0);

    fake.sendUserMessage({ from: { id: 88, first_name: 'Wen' }, text: '/start' });
    const [update] = fake.takeWebhookUpdates();
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: JSON.stringify(update),
    });
    expect(response.status).toBe(200);
    await waitFor(() => fake.lastBotMessage(88)?.text?.startsWith('Hello, Wen!'), {
      message: 'the greeting',
    });

    bot.child.kill('SIGTERM');
    const result = await bot.exited;
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; level: string });
    expect(lines.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(lines.map((line) => line.msg)).toContain('MongoDB connection closed');
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    expect(result.stdout + result.stderr).not.toContain(fake.token);
  });

  it('stops the start with one line naming WEBHOOK_URL and exit 1 when Telegram refuses setWebhook', async () => {
    fake.injectFault({
      method: 'setWebhook',
      status: 400,
      description: 'Bad Request: bad webhook: Failed to resolve host: Name or service not known',
    });
    const bot = startScript('src/main.ts', [], { env: env() });
    const result = await bot.exited;
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/WEBHOOK_URL https:\/\/bot\.example:8443\/tg\/in/);
    expect(lines[0]).toMatch(/Failed to resolve host/);
    expect(result.stderr + result.stdout).not.toContain(SECRET);
  });
});
