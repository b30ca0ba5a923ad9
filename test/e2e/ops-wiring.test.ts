import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

describe('end to end: the running bot serves its probes and metrics', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(db(), fake, { HTTP_PORT: '0' });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('is ready once MongoDB, Telegram and the schedulers are up', async () => {
    const response = await fetch(`${t.app.opsUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      ready: true,
      checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'ok' },
    });
  });

  it('counts job runs and Bot API calls made by the bot', async () => {
    await t.app.runtime.runNow('token-cleanup');
    const text = await (await fetch(`${t.app.opsUrl}/metrics`)).text();
    expect(text).toMatch(/^tgbot_scheduler_runs_total\{job_name="token-cleanup",status="succeeded"\} 1$/m);
    expect(text).toMatch(/^tgbot_telegram_api_calls_total\{method="getMe",result="ok"\} 1$/m);
    expect(text).toMatch(/^tgbot_pending_deletions_due 0$/m);
  });
});
