import { describe, expect, it } from 'vitest';
import { DESCRIPTIONS } from '../index.js';
import { alice, grammyError, rawCall, useFakeWithBot } from './helpers.js';

const URL_OK = 'https://bot.example/tg/hook';

describe('fake Bot API: webhooks as telegram-bot-api sets them', () => {
  const { fake, bot } = useFakeWithBot({ chats: [alice] });

  it('sets a webhook, reports it in getWebhookInfo and answers "already set" to the same settings', async () => {
    const set = await rawCall(fake, 'setWebhook', {
      url: URL_OK,
      secret_token: 'Secret_token-1',
      max_connections: 12,
      allowed_updates: ['message', 'callback_query'],
    });
    expect(set).toEqual({ status: 200, body: { ok: true, result: true, description: 'Webhook was set' } });
    expect(fake.webhookSettings()).toEqual({
      url: URL_OK,
      secretToken: 'Secret_token-1',
      maxConnections: 12,
    });
    expect(await bot.api.getWebhookInfo()).toEqual({
      url: URL_OK,
      has_custom_certificate: false,
      pending_update_count: 0,
      max_connections: 12,
      ip_address: '<unknown>',
      allowed_updates: ['message', 'callback_query'],
    });
  });

  it('throttles setWebhook to one a second (429 retry after 1), even for unchanged settings', async () => {
    await bot.api.setWebhook(URL_OK, { secret_token: 's' });
    const again = await rawCall(fake, 'setWebhook', { url: URL_OK, secret_token: 's' });
    expect(again).toEqual({
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 1',
        parameters: { retry_after: 1 },
      },
    });
    // deleteWebhook is not throttled.
    expect((await rawCall(fake, 'deleteWebhook')).body).toMatchObject({ description: 'Webhook was deleted' });
  });

  it.each([
    ['http://bot.example/hook', {}, DESCRIPTIONS.webhookNeedsHttps],
    ['https://bot.example:8080/hook', {}, DESCRIPTIONS.webhookPortForbidden],
    ['https://', {}, DESCRIPTIONS.invalidWebhookUrl],
    [URL_OK, { secret_token: 'has space' }, DESCRIPTIONS.secretTokenUnallowedCharacters],
    [URL_OK, { secret_token: 'x'.repeat(257) }, DESCRIPTIONS.secretTokenTooLong],
  ])("refuses %s %o with Telegram's words, leaving no webhook set", async (url, extra, description) => {
    const answer = await rawCall(fake, 'setWebhook', { url, ...extra });
    expect(answer).toEqual({ status: 400, body: { ok: false, error_code: 400, description } });
    expect(fake.webhookSettings().url).toBe('');
  });

  it('accepts the ports Telegram allows and a URL without a scheme (taken as https)', async () => {
    const set = await rawCall(fake, 'setWebhook', { url: 'bot.example:8443/hook' });
    expect(set.body).toMatchObject({ ok: true, description: 'Webhook was set' });
  });

  it('refuses getUpdates with 409 while a webhook is set, and polls again after deleteWebhook', async () => {
    fake.sendUserMessage({ from: alice, text: 'hello' });
    await bot.api.setWebhook(URL_OK);
    const refused = await grammyError(bot.api.getUpdates());
    expect(refused.error_code).toBe(409);
    expect(refused.description).toBe(DESCRIPTIONS.webhookActiveConflict);
    expect(await bot.api.getWebhookInfo()).toMatchObject({ url: URL_OK, pending_update_count: 1 });

    expect(await rawCall(fake, 'deleteWebhook', { drop_pending_updates: false })).toEqual({
      status: 200,
      body: { ok: true, result: true, description: 'Webhook was deleted' },
    });
    expect((await rawCall(fake, 'deleteWebhook')).body).toMatchObject({
      description: 'Webhook is already deleted',
    });
    const updates = await bot.api.getUpdates();
    expect(updates.map((update) => update.message?.text)).toEqual(['hello']);
  });

  it('ends a waiting long poll with 409 when a webhook is set', async () => {
    const poll = grammyError(bot.api.getUpdates({ timeout: 30 }));
    await expect.poll(() => fake.isLongPolling()).toBe(true);
    await bot.api.setWebhook(URL_OK);
    const error = await poll;
    expect(error.error_code).toBe(409);
    expect(error.description).toBe(DESCRIPTIONS.terminatedBySetWebhook);
  });

  it('hands waiting updates over for the test to post, once', async () => {
    await bot.api.setWebhook(URL_OK);
    fake.sendUserMessage({ from: alice, text: 'one' });
    fake.sendUserMessage({ from: alice, text: 'two' });
    const delivered = fake.takeWebhookUpdates();
    expect(delivered.map((update) => [update.update_id, update.message?.text])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(fake.takeWebhookUpdates()).toEqual([]);
  });

  it('holds calls of a method until released', async () => {
    const hold = fake.holdCalls('sendMessage');
    let answered = false;
    const sending = bot.api.sendMessage(alice.id, 'held').then(() => {
      answered = true;
    });
    await expect.poll(() => fake.callsInFlight('sendMessage')).toBe(1);
    expect(answered).toBe(false);
    expect(fake.messages(alice.id)).toHaveLength(0);
    hold.release();
    await sending;
    expect(fake.messages(alice.id).map((message) => message.text)).toEqual(['held']);
  });
});
