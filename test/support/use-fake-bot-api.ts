import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type FakeBotApi, type FakeBotApiOptions, startFakeBotApi } from './fake-bot-api/index.js';
import { live } from './live.js';

/**
 * A fake Bot API server for the current file (`'file'`) or a fresh one for each test (`'test'`),
 * started before and stopped after, like useTestDatabase(). The handle it returns always points at
 * the server of the moment, so it can be used as a plain FakeBotApi in tests and hooks.
 */
export function useFakeBotApi(scope: 'file' | 'test' = 'test', options: FakeBotApiOptions = {}): FakeBotApi {
  let current: FakeBotApi | undefined;
  const [before, after] = scope === 'file' ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(async () => {
    current = await startFakeBotApi(options);
  });
  after(async () => {
    await current?.stop();
    current = undefined;
  });
  return live(() => current, 'the fake Bot API');
}
