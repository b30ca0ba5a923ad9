import { autoRetry } from '@grammyjs/auto-retry';
import { Bot } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeBotApi, startFakeBotApi } from '../support/fake-bot-api/index.js';
import { alice, bob, grammyError, manualClock } from './helpers.js';

describe('fake Bot API: flood control, faults and latency', () => {
  const clock = manualClock();
  let fake: FakeBotApi;
  let bot: Bot;

  beforeEach(async () => {
    fake = await startFakeBotApi({ now: clock.now });
    bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    fake.addChat(alice.id, { user: alice });
    fake.addChat(bob.id, { user: bob });
  });

  afterEach(async () => {
    await fake.stop();
  });

  it('answers 429 with retry_after over the per-chat limit, and frees the window with the clock', async () => {
    fake.setRateLimits({ perChatPerSecond: 1 });
    await bot.api.sendMessage(alice.id, 'first');
    const limited = await grammyError(bot.api.sendMessage(alice.id, 'second'));
    expect([limited.error_code, limited.description, limited.parameters]).toEqual([
      429,
      'Too Many Requests: retry after 1',
      { retry_after: 1 },
    ]);
    // Other chats and non-sending methods are not limited per chat.
    await bot.api.sendMessage(bob.id, 'other chat');
    await bot.api.deleteMessage(alice.id, 1);

    clock.advance(999);
    expect((await grammyError(bot.api.sendMessage(alice.id, 'too early'))).error_code).toBe(429);
    clock.advance(1);
    await bot.api.sendMessage(alice.id, 'after a second');
    expect(fake.count429()).toBe(2);
    expect(fake.stats().retryAfterTotalSeconds).toBe(2);
  });

  it('does not count refused calls toward the window', async () => {
    fake.setRateLimits({ perChatPerSecond: 1 });
    await bot.api.sendMessage(alice.id, 'at 0 ms');
    clock.advance(500);
    await grammyError(bot.api.sendMessage(alice.id, 'refused at 500 ms'));
    clock.advance(500);
    // Had the refused call counted, the window would still be full until 1500 ms.
    await bot.api.sendMessage(alice.id, 'accepted at 1000 ms');
  });

  it('applies a global limit across chats and methods', async () => {
    fake.setRateLimits({ globalPerSecond: 2 });
    await bot.api.sendMessage(alice.id, 'a');
    await bot.api.sendMessage(bob.id, 'b');
    expect((await grammyError(bot.api.deleteMessage(alice.id, 1))).error_code).toBe(429);
    await bot.api.getMe();
    clock.advance(1000);
    expect(await bot.api.deleteMessage(alice.id, 1)).toBe(true);
    fake.setRateLimits({ globalPerSecond: undefined });
    for (let i = 0; i < 5; i++) await bot.api.sendMessage(bob.id, `free ${i}`);
  });

  it('lets the auto-retry plugin recover from an injected 429', async () => {
    bot.api.config.use(autoRetry());
    fake.injectFault({ method: 'sendMessage', status: 429, retryAfter: 1 });
    const sent = await bot.api.sendMessage(alice.id, 'eventually');
    expect(sent.text).toBe('eventually');
    expect(fake.calls.map((call) => [call.method, call.status])).toEqual([
      ['sendMessage', 429],
      ['sendMessage', 200],
    ]);
    expect(fake.messages(alice.id)).toHaveLength(1);
  });

  it('consumes injected faults in order, per method and chat', async () => {
    fake.injectFault({
      method: 'sendMessage',
      chatId: bob.id,
      status: 403,
      description: 'Forbidden: bot was blocked by the user',
    });
    fake.injectFault({ method: 'sendMessage', status: 500 });
    fake.injectFault({ method: 'sendMessage', status: 502, times: 2 });
    fake.injectFault({
      method: 'deleteMessage',
      status: 400,
      description: 'Bad Request: message to delete not found',
    });

    const failures: [number, string][] = [];
    for (let i = 0; i < 3; i++) {
      const error = await grammyError(bot.api.sendMessage(alice.id, `try ${i}`));
      failures.push([error.error_code, error.description]);
    }
    expect(failures).toEqual([
      [500, 'Internal Server Error'],
      [502, 'Bad Gateway'],
      [502, 'Bad Gateway'],
    ]);
    expect((await grammyError(bot.api.sendMessage(bob.id, 'to bob'))).error_code).toBe(403);
    await bot.api.sendMessage(alice.id, 'fault-free');
    expect(fake.pendingFaults()).toMatchObject([{ method: 'deleteMessage', remaining: 1 }]);
    expect(fake.messages(alice.id).map((m) => m.text)).toEqual(['fault-free']);
  });

  it('keeps an Infinity fault until cleared', async () => {
    fake.injectFault({ method: 'getMe', status: 500, times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 3; i++) expect((await grammyError(bot.api.getMe())).error_code).toBe(500);
    fake.clearFaults();
    expect((await bot.api.getMe()).username).toBe('test_maint_bot');
  });

  it('delays answers by the configured latency', async () => {
    fake.setLatency('getMe', 60);
    const started = performance.now();
    await bot.api.getMe();
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    fake.setLatency('getMe', 0);
  });
});
