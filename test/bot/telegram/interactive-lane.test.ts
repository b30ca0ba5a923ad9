import { Api, GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import {
  type ApiPolicy,
  applyInteractivePolicy,
  createApiPolicy,
  createBulkApi,
} from '../../../bot/telegram/api.js';
import { createRateLimiter, type RateLimitOptions } from '../../../bot/telegram/rate-limiter.js';
import type { CallRecord } from '../../support/fake-bot-api/index.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';
import { waitFor } from '../../support/wait.js';

/**
 * One process's two lanes against the fake Bot API: replies to a user's own update (interactive,
 * `bot.api`) and background work (bulk) share the overall window, replies first; only bulk is
 * spaced per chat.
 */
describe('interactive and bulk lanes of one process', () => {
  const fake = useFakeBotApi('test', {
    // Telegram's own per-chat limit as the fake models it: a burst of 3, then 1 per second.
    rateLimits: { globalPerSecond: 30, perChatPerSecond: 1, perChatBurst: 3 },
  });

  function lanes(limits: RateLimitOptions, maxRetryAfterSeconds = 5): { interactive: Api; bulk: Api } {
    const policy: ApiPolicy = createApiPolicy({
      limiter: createRateLimiter(limits),
      maxRetryAfterSeconds,
      maxRateLimitRetries: 3,
    });
    return {
      interactive: applyInteractivePolicy(new Api(fake.token, { apiRoot: fake.apiRoot }), policy),
      bulk: createBulkApi(fake.token, fake.apiRoot, policy),
    };
  }

  const sent = (calls: readonly CallRecord[]) =>
    calls.filter((call) => call.method === 'sendMessage').map((call) => call.params.text);

  it('a reply goes out before bulk calls that were already waiting for the window', async () => {
    for (let chat = 1; chat <= 8; chat++) fake.addChat(chat);
    fake.addChat(100);
    const { interactive, bulk } = lanes({ maxPerSecond: 4, perChatPerSecond: 1_000 });

    const bulkSends = [1, 2, 3, 4, 5, 6, 7, 8].map((chat) => bulk.sendMessage(chat, `bulk ${chat}`));
    // The window holds 4: the first four are answered, the other four wait for it to move on.
    await waitFor(() => fake.calls.length === 4, { message: 'the first window of bulk calls' });
    const reply = interactive.sendMessage(100, 'reply');
    await Promise.all([...bulkSends, reply]);

    expect(sent(fake.calls)).toEqual(
      ['bulk 1', 'bulk 2', 'bulk 3', 'bulk 4', 'reply', 'bulk 5', 'bulk 6', 'bulk 7'].concat('bulk 8'),
    );
    expect(fake.count429()).toBe(0);
  });

  it('replies into one chat are not spaced: the three messages of the verify flow go out as a burst', async () => {
    fake.addChat(7);
    const { interactive } = lanes({ maxPerSecond: 30, perChatPerSecond: 1 });

    await interactive.sendMessage(7, 'one');
    await interactive.sendMessage(7, 'two');
    await interactive.sendMessage(7, 'three');

    expect(sent(fake.calls)).toEqual(['one', 'two', 'three']);
    expect(fake.calls.map((call) => call.status)).toEqual([200, 200, 200]);
    // Spaced at 1 per second they would span at least two seconds.
    const times = fake.calls.map((call) => call.time);
    expect((times[2] as number) - (times[0] as number)).toBeLessThan(1_000);
  });

  it('bulk sends into one chat are still spaced per chat', async () => {
    fake.addChat(7);
    // 10 per second per chat: at least 100 ms from one answer to the next send. The fake lets
    // this pace through, so the spacing seen is the limiter's own.
    fake.setRateLimits({ perChatPerSecond: 10, perChatBurst: 1 });
    const { bulk } = lanes({ maxPerSecond: 30, perChatPerSecond: 10 });

    await Promise.all(['one', 'two', 'three', 'four'].map((text) => bulk.sendMessage(7, text)));

    expect(sent(fake.calls)).toEqual(['one', 'two', 'three', 'four']);
    const times = fake.calls.map((call) => call.time);
    for (let i = 1; i < times.length; i++) {
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(100);
    }
  });

  it('a 429 on a reply is waited out when retry_after is within the bound, and fails the reply when above', async () => {
    fake.addChat(7);
    const { interactive } = lanes({ maxPerSecond: 30, perChatPerSecond: 1 }, 2);

    fake.injectFault({ method: 'sendMessage', chatId: 7, status: 429, retryAfter: 1 });
    await interactive.sendMessage(7, 'after a short wait');
    expect(fake.calls.map((call) => call.status)).toEqual([429, 200]);
    expect((fake.calls[1]?.time as number) - (fake.calls[0]?.time as number)).toBeGreaterThanOrEqual(1_000);

    fake.injectFault({ method: 'sendMessage', chatId: 7, status: 429, retryAfter: 30 });
    const failure = await interactive.sendMessage(7, 'too long a wait').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GrammyError);
    expect((failure as GrammyError).error_code).toBe(429);
    // Given up at once, not tried again after 30 seconds.
    expect(fake.calls.map((call) => call.status)).toEqual([429, 200, 429]);
  });
});
