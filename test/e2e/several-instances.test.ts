import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, TestUser } from '../support/app-harness.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';
import { waitFor } from '../support/wait.js';

describe('end to end: several instances on one bot token and one database', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  const apps: TestApp[] = [];

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
  });

  it('lets one instance receive updates while the other stands by, and hands over when it stops', async () => {
    const env = { LEASE_SECONDS: '3' };
    const first = await startTestApp(db(), fake, env);
    apps.push(first);
    const second = await startTestApp(db(), fake, env, 'started');
    apps.push(second);
    await waitFor(() =>
      second.logs.messages().includes('another instance is receiving updates; standing by to take over'),
    );

    const user = new TestUser(fake, { id: 4321, first_name: 'Una' });
    const answers = await user.say('/start');
    expect(answers.map((message) => message.text)).toEqual([expect.stringMatching(/^Hello, Una!/)]);
    expect(fake.calls.filter((call) => call.method === 'getUpdates' && call.status === 409)).toEqual([]);

    await first.stop();
    await waitFor(() => second.logs.messages().includes('taking over receiving updates'), {
      timeoutMs: 15_000,
    });
    await waitFor(() => fake.isLongPolling(), { message: 'the second instance polling' });
    const later = await user.say('/help');
    expect(later).toHaveLength(1);
  });
});
