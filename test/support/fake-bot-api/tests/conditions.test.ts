import { autoRetry } from '@grammyjs/auto-retry';
import { describe, expect, it } from 'vitest';
import { alice, bob, grammyError, useFakeWithBot } from './helpers.js';

describe('fake Bot API: flood control, faults and latency', () => {
  const { clock, fake, bot } = useFakeWithBot({ chats: [alice, bob] });

  async function refusal(call: Promise<unknown>): Promise<[number, string, unknown]> {
    const error = await grammyError(call);
    return [error.error_code, error.description, error.parameters];
  }

  async function sendBurst(chatId: number, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await bot.api.sendMessage(chatId, `burst ${i}`);
  }

  it('lets a chat send a short burst, then answers 429 until the per-chat rate refills a message', async () => {
    fake.setRateLimits({ perChatPerSecond: 1 });
    expect(fake.rateLimits()).toMatchObject({ perChatPerSecond: 1, perChatBurst: 3 });
    await sendBurst(alice.id, 3);
    expect(await refusal(bot.api.sendMessage(alice.id, 'fourth'))).toEqual([
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
    // The sustained rate is still one a second: the burst is spent until the chat pauses.
    expect((await grammyError(bot.api.sendMessage(alice.id, 'right after'))).error_code).toBe(429);
    expect(fake.count429()).toBe(3);
    expect(fake.stats().retryAfterTotalSeconds).toBe(3);
    expect(fake.messages(alice.id).map((message) => message.text)).toEqual([
      'burst 1',
      'burst 2',
      'after a second',
    ]);
  });

  it('refills the burst at the per-chat rate, up to perChatBurst and no further', async () => {
    fake.setRateLimits({ perChatPerSecond: 2, perChatBurst: 4 });
    await sendBurst(alice.id, 4);
    await grammyError(bot.api.sendMessage(alice.id, 'spent'));
    clock.advance(1000);
    await sendBurst(alice.id, 2);
    expect((await grammyError(bot.api.sendMessage(alice.id, 'spent again'))).error_code).toBe(429);
    // A long pause refills the whole burst, but only the burst.
    clock.advance(60_000);
    await sendBurst(alice.id, 4);
    expect((await grammyError(bot.api.sendMessage(alice.id, 'fifth'))).error_code).toBe(429);
  });

  it('answers retry_after in whole seconds, at least 1, until one message is allowed again', async () => {
    fake.setRateLimits({ perChatPerSecond: 0.5, perChatBurst: 2 });
    await sendBurst(alice.id, 2);
    expect((await refusal(bot.api.sendMessage(alice.id, 'now')))[2]).toEqual({ retry_after: 2 });
    clock.advance(1000);
    expect((await refusal(bot.api.sendMessage(alice.id, 'in a second')))[2]).toEqual({ retry_after: 1 });
    clock.advance(999);
    expect((await refusal(bot.api.sendMessage(alice.id, 'in a millisecond')))[2]).toEqual({
      retry_after: 1,
    });
    clock.advance(1);
    await bot.api.sendMessage(alice.id, 'allowed');
  });

  it('models a strict one-message window with perChatBurst 1', async () => {
    fake.setRateLimits({ perChatPerSecond: 1, perChatBurst: 1 });
    await bot.api.sendMessage(alice.id, 'first');
    expect((await refusal(bot.api.sendMessage(alice.id, 'second')))[2]).toEqual({ retry_after: 1 });
    clock.advance(1000);
    await bot.api.sendMessage(alice.id, 'a second later');
  });

  it('does not count refused calls toward either limit', async () => {
    fake.setRateLimits({ perChatPerSecond: 1, globalPerSecond: 4 });
    await sendBurst(alice.id, 3);
    clock.advance(500);
    await grammyError(bot.api.sendMessage(alice.id, 'refused at 500 ms'));
    // Had the refused call kept its global slot, the global window would be full now.
    await bot.api.sendMessage(bob.id, 'fourth global call at 500 ms');
    clock.advance(500);
    // Had the refused call taken a token, the chat would wait until 2000 ms.
    await bot.api.sendMessage(alice.id, 'accepted at 1000 ms');
  });

  it('sets the burst through the control API and refuses limits that would block every call', async () => {
    const post = async (body: unknown) => {
      const response = await fetch(`${fake.controlUrl}/rate-limits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await post({ perChatPerSecond: 1, perChatBurst: 2 })).toMatchObject({
      status: 200,
      body: { ok: true, rateLimits: { perChatPerSecond: 1, perChatBurst: 2 } },
    });
    await sendBurst(alice.id, 2);
    expect((await grammyError(bot.api.sendMessage(alice.id, 'third'))).error_code).toBe(429);
    expect((await post({ perChatBurst: 0 })).status).toBe(400);
    expect((await post({ perChatBurst: 1.5 })).status).toBe(400);
    expect((await post({ perChatPerSecond: 0 })).status).toBe(400);
    expect(fake.rateLimits()).toMatchObject({ perChatPerSecond: 1, perChatBurst: 2 });
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
