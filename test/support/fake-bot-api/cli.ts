/**
 * Runs the fake Bot API as its own process for benchmarks:
 *
 *   tsx test/support/fake-bot-api/cli.ts --port 0 [--global-rps N] [--per-chat-rps N]
 *       [--per-chat-burst N] [--token T] [--unknown-chats chat-not-found|register] [--record-calls]
 *
 * Prints one JSON line `{"apiRoot", "controlUrl", "token", "pid"}` once listening, then serves
 * until SIGTERM or SIGINT and exits 0. The token is printed because the parent chose or needs it;
 * the fake never logs it anywhere else. `pid` is this server process: npx does not forward signals
 * to the program it runs, so a parent that started `npx tsx …` stops the server with
 * `process.kill(pid, 'SIGTERM')` (npx and tsx then exit 0 with it).
 */
import { parseArgs } from 'node:util';
import { startFakeBotApi } from './index.js';
import type { UnknownChatPolicy } from './methods/index.js';

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`${flag} must be a positive number`);
  return number;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  const number = positiveNumber(value, flag);
  if (number !== undefined && !Number.isInteger(number)) throw new Error(`${flag} must be a whole number`);
  return number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      token: { type: 'string' },
      'global-rps': { type: 'string' },
      'per-chat-rps': { type: 'string' },
      'per-chat-burst': { type: 'string' },
      'unknown-chats': { type: 'string', default: 'chat-not-found' },
      'record-calls': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0..65535');
  const unknownChats = values['unknown-chats'];
  if (unknownChats !== 'chat-not-found' && unknownChats !== 'register') {
    throw new Error('--unknown-chats must be chat-not-found or register');
  }
  const globalPerSecond = positiveNumber(values['global-rps'], '--global-rps');
  const perChatPerSecond = positiveNumber(values['per-chat-rps'], '--per-chat-rps');
  const perChatBurst = positiveInteger(values['per-chat-burst'], '--per-chat-burst');

  const fake = await startFakeBotApi({
    port,
    ...(values.token === undefined ? {} : { token: values.token }),
    rateLimits: {
      ...(globalPerSecond === undefined ? {} : { globalPerSecond }),
      ...(perChatPerSecond === undefined ? {} : { perChatPerSecond }),
      ...(perChatBurst === undefined ? {} : { perChatBurst }),
    },
    unknownChats: unknownChats as UnknownChatPolicy,
    // A benchmark makes millions of calls; aggregate statistics are kept either way.
    recordCalls: values['record-calls'],
  });
  process.stdout.write(
    `${JSON.stringify({ apiRoot: fake.apiRoot, controlUrl: fake.controlUrl, token: fake.token, pid: process.pid })}\n`,
  );

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    fake.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`fake-bot-api: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
