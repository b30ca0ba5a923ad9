import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningApp, runApp } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import type { FakeBotApi, FakeUser, InspectedMessage } from './fake-bot-api/index.js';
import { type CapturedLogger, captureLogs } from './logs.js';
import { quietSchedules } from './quiet-schedules.js';
import type { TestDatabase } from './test-db.js';
import { waitFor } from './wait.js';

/**
 * The apps of this test file that are running: updates are handled while the next ones are
 * fetched, so "handled" means no update queued at the fake and none in hand in any app.
 */
const runningApps = new Set<RunningApp>();

export function noUpdatesInHand(): boolean {
  for (const app of runningApps) if (app.updates.size > 0) return false;
  return true;
}

export interface TestApp {
  app: RunningApp;
  logs: CapturedLogger;
  /** Moves the clock the bot and the fake Bot API share (message dates, the 48-hour rule). */
  advance(ms: number): void;
  now(): Date;
  stop(): Promise<void>;
}

/** The real bot (runApp) polling the fake Bot API server, on the test database. */
export async function startTestApp(
  db: TestDatabase,
  fake: FakeBotApi,
  env: Record<string, string> = {},
  /** `polling`: resolve once this instance receives updates; `started`: once start-up is done. */
  until: 'polling' | 'started' = 'polling',
): Promise<TestApp> {
  const parsed = parseConfig({
    BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MONGODB_URI: db.uri,
    MONGODB_DB: db.dbName,
    TELEGRAM_MAX_RPS: '1000',
    TELEGRAM_PER_CHAT_RPS: '100',
    ...quietSchedules(env.SCHEDULER_TIMEZONE),
    SHUTDOWN_TIMEOUT_MS: '5000',
    // A /run backup in a test writes under the system's temporary directory, never into the checkout.
    BACKUP_DIR: join(tmpdir(), 'bot-test-backups', db.dbName),
    ...env,
  });
  if (!parsed.ok) throw new Error(`bad test configuration: ${parsed.problems.join('; ')}`);
  const logs = captureLogs([fake.token]);
  let nowMs = Date.now();
  // One clock for the bot and the fake server, as production shares one with Telegram; it moves
  // only when the test says so.
  fake.setClock(() => nowMs);
  const controller = new AbortController();
  let ready: (app: RunningApp) => void = () => {};
  const started = new Promise<RunningApp>((resolve) => {
    ready = resolve;
  });
  const done = runApp(parsed.config, logs.logger, {
    clock: () => new Date(nowMs),
    signal: controller.signal,
    ...(until === 'polling' ? { onReady: ready } : { onStarted: ready }),
  });
  const stoppedEarly = done.then(() => {
    throw new Error('the app stopped during start-up');
  });
  stoppedEarly.catch(() => {});
  const app = await Promise.race([started, stoppedEarly]);
  runningApps.add(app);
  return {
    app,
    logs,
    advance: (ms) => {
      nowMs += ms;
    },
    now: () => new Date(nowMs),
    stop: async () => {
      controller.abort();
      try {
        await done;
      } finally {
        runningApps.delete(app);
      }
    },
  };
}

/** A simulated user talking to the bot through the fake server. */
export class TestUser {
  constructor(
    readonly fake: FakeBotApi,
    readonly info: FakeUser,
  ) {}

  get id(): number {
    return this.info.id;
  }

  /** Sends a message and waits until the bot has handled it; returns the bot's new messages. */
  async say(text: string, options: { replyTo?: number } = {}): Promise<InspectedMessage[]> {
    const before = this.lastMessageId();
    this.fake.sendUserMessage({
      from: this.info,
      text,
      ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    });
    await this.handled();
    return this.botMessagesAfter(before);
  }

  /** Presses an inline button and waits until the bot has handled it. */
  async press(messageId: number, data: string): Promise<InspectedMessage[]> {
    const before = this.lastMessageId();
    this.fake.pressButton({ from: this.info, messageId, data });
    await this.handled();
    return this.botMessagesAfter(before);
  }

  /** Opens a t.me deep link the way Telegram clients do: `/start <payload>`. */
  open(link: string): Promise<InspectedMessage[]> {
    const payload = new URL(link).searchParams.get('start');
    if (!payload) throw new Error(`not a start link: ${link}`);
    return this.say(`/start ${payload}`);
  }

  visibleMessages(): InspectedMessage[] {
    return this.fake.chat(this.id).messages;
  }

  lastBotText(): string | undefined {
    return this.fake.lastBotMessage(this.id)?.text;
  }

  private lastMessageId(): number {
    return this.fake.chat(this.id).messages.at(-1)?.message_id ?? 0;
  }

  private botMessagesAfter(id: number): InspectedMessage[] {
    return this.fake
      .chat(this.id)
      .messages.filter((message) => message.message_id > id && message.from?.is_bot);
  }

  private async handled(): Promise<void> {
    // The runner polls again as soon as it has handed the last batch to the handlers: an empty
    // queue, a poll waiting and no update in hand means this update was handled.
    await waitFor(
      () => this.fake.pendingUpdateCount() === 0 && this.fake.isLongPolling() && noUpdatesInHand(),
      {
        message: 'the bot handling the update',
      },
    );
  }
}

export function linksIn(text: string | undefined): string[] {
  return [...(text ?? '').matchAll(/https:\/\/t\.me\/\S+/g)].map((match) => match[0]);
}
