import { Bot, GrammyError } from 'grammy';
import { beforeEach } from 'vitest';
import { live } from '../../live.js';
import { useFakeBotApi } from '../../use-fake-bot-api.js';
import type { FakeBotApi, FakeUser } from '../index.js';

export const alice: FakeUser = { id: 1001, first_name: 'Alice', username: 'alice' };
export const bob: FakeUser = { id: 1002, first_name: 'Bob' };

/** A hand-moved millisecond clock, so time-dependent rules are tested without waiting. */
export function manualClock(start = Date.UTC(2025, 0, 15, 12, 0, 0)) {
  let current = start;
  return {
    now: () => current,
    advance(ms: number) {
      current += ms;
    },
    seconds: () => Math.floor(current / 1000),
  };
}

/** The GrammyError a call failed with (fails the test when the call succeeds or fails otherwise). */
export async function grammyError(call: Promise<unknown>): Promise<GrammyError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof GrammyError) return error;
    throw error;
  }
  throw new Error('expected the Bot API call to fail');
}

/** A Bot API call with plain fetch, for what grammY would not show: HTTP status, raw body. */
export async function rawCall(
  fake: FakeBotApi,
  method: string,
  params: Record<string, unknown> = {},
  init: { token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fake.apiRoot}/bot${init.token ?? fake.token}/${method}`, {
    method: 'POST',
    headers: init.headers ?? { 'content-type': 'application/json' },
    body: init.body ?? JSON.stringify(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A promise resolved from inside a handler, to wait for the bot without sleeping. */
export function signal<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * The set-up every test file of the fake shares: a fresh fake on a hand-moved clock for each test,
 * a grammY Bot talking to it, and `chats` made known (as if those users had started the bot).
 */
export function useFakeWithBot(options: { chats?: readonly FakeUser[] } = {}) {
  const clock = manualClock();
  const fake = useFakeBotApi('test', { now: clock.now });
  let current: Bot | undefined;
  beforeEach(() => {
    current = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    for (const user of options.chats ?? []) fake.addChat(user.id, { user });
  });
  return { clock, fake, bot: live(() => current, 'the test bot') };
}
