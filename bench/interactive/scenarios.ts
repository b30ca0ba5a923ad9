/**
 * Many users at once (#12): the bot as users meet it, not a job run by hand.
 *
 *   content-burst   users with access each open a content link within one second: copy + note
 *   verify-burst    new users each open a content link, get a verification link, open it: 4 messages
 *   webhook-burst   the content burst posted to three webhook replicas behind a round-robin proxy
 *   broadcast-3     three instances on one database each broadcast to every user at once
 *
 * ours = `node --import tsx src/main.ts` in polling mode; baseline = bench/baseline/serial-bot.ts
 * (grammY's serial bot.start() with 1 s spacing per chat). Every run gets its own fake Bot API
 * (recording calls, Telegram-like limits) and a fresh database.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { ensureIndexes } from '../../db/indexes.js';
import { quietSchedules } from '../../test/support/quiet-schedules.js';
import {
  control,
  type FakeHandle,
  freePort,
  sleep,
  startFake,
  startNodeProcess,
  stopService,
  until,
} from '../processes.js';
import { CallFollower, percentile, type RateFigures, rates } from './calls.js';
import { postUpdate, startRoundRobinProxy, startUpdate, TELEGRAM_CONNECTIONS } from './webhook-proxy.js';

export const INTERACTIVE_IDS = ['content-burst', 'verify-burst', 'webhook-burst', 'broadcast-3'] as const;
export type InteractiveId = (typeof INTERACTIVE_IDS)[number];

export interface InteractiveOptions {
  mongoUri: string;
  maxRps: number;
  /** Users of ours (1,000). */
  users: number;
  /** Users of the serial baseline (it needs about a second per user). */
  baselineUsers: number;
  /** Recipients of each broadcast in broadcast-3. */
  recipients: number;
  log(line: string): void;
}

export interface LatencyFigures {
  p50: number | undefined;
  p99: number | undefined;
  max: number | undefined;
}

export interface BurstRun {
  impl: 'ours' | 'baseline' | 'ours-webhook-3';
  /** Processes receiving updates. */
  processes: number;
  users: number;
  /** Users who got everything they asked for / got exactly that and nothing more. */
  usersServed: number;
  usersExact: number;
  updates: number;
  /** From the first update injected to the last reply of the last user served. */
  seconds: number;
  secondsPerUser: number;
  updatesPerSecond: number;
  /** From a user's last update to the last reply that user gets, in ms. */
  latencyMs: LatencyFigures;
  /** verify-burst: from the content link to the verification link; and the user's whole flow. */
  firstStepLatencyMs?: LatencyFigures;
  flowLatencyMs?: LatencyFigures;
  botApiCalls: number;
  rate: Omit<RateFigures, 'perSecond'>;
  maxRps: number;
  answers429: number;
  /** Other failed answers (4xx/5xx but 429), by status. */
  otherErrors: Record<string, number>;
  /** Webhook: updates the proxy gave each replica, and answers that were not 2xx. */
  perReplica?: number[];
  webhookFailures?: number;
  note?: string;
}

export interface BurstScenarioFigures {
  kind: 'burst';
  id: InteractiveId;
  title: string;
  runs: BurstRun[];
  /** Baseline seconds per user ÷ ours: how many times sooner each user is served. */
  speedUpPerUser?: number;
  skipped?: string;
}

export interface BroadcastScenarioFigures {
  kind: 'broadcast';
  id: 'broadcast-3';
  title: string;
  instances: number;
  recipients: number;
  maxRps: number;
  /** Every counted call of the three, in one-second windows. */
  combined: RateFigures;
  /** Same, copies only (the broadcast itself). */
  copies: Omit<RateFigures, 'perSecond'>;
  answers429: number;
  perInstance: { total: number; wallMs: number; status: string; delivered: number; failed: number }[];
  /** Users holding exactly `instances` copies. */
  usersWithAllCopies: number;
  /** Copies Telegram (the fake) accepted, all instances together. */
  copiesDelivered: number;
  /** The broadcasts had not all ended when the bench stopped waiting. */
  timedOut: boolean;
}

export type InteractiveFigures = BurstScenarioFigures | BroadcastScenarioFigures;

const ADMIN_ID = 990_001;
const FIRST_USER = 2_000_000;
const CONTENT_ID = 'benchContent01';
const WEBHOOK_SECRET = 'bench-secret-0123456789';
const WEBHOOK_PATH = '/hook';

type Workload = 'content' | 'verify';
const EXPECTED_REPLIES: Record<Workload, number> = { content: 2, verify: 4 };

interface RunContext {
  options: InteractiveOptions;
  fake: FakeHandle;
  dbName: string;
  client: MongoClient;
  logDir: string;
}

function botEnv(ctx: RunContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    BOT_TOKEN: ctx.fake.token,
    TELEGRAM_API_ROOT: ctx.fake.apiRoot,
    MONGODB_URI: ctx.options.mongoUri,
    MONGODB_DB: ctx.dbName,
    TELEGRAM_MAX_RPS: String(ctx.options.maxRps),
    TELEGRAM_PER_CHAT_RPS: '1',
    ADMIN_IDS: String(ADMIN_ID),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    LOG_FORMAT: 'json',
    SHUTDOWN_TIMEOUT_MS: '3000',
    ...quietSchedules(),
    ...extra,
  };
}

/** A fresh database and fake for one run; everything is stopped and dropped afterwards. */
async function withRun<T>(
  options: InteractiveOptions,
  name: string,
  body: (ctx: RunContext) => Promise<T>,
): Promise<T> {
  const fake = await startFake(options.maxRps, true);
  const dbName = `bench_${name}`.replace(/[^A-Za-z0-9_]/g, '_');
  const client = new MongoClient(options.mongoUri);
  const logDir = await mkdtemp(join(tmpdir(), `bench-${name}-`));
  try {
    await client.connect();
    await client.db(dbName).dropDatabase();
    await ensureIndexes(client.db(dbName));
    return await body({ options, fake, dbName, client, logDir });
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await stopService(fake.child);
  }
}

/** The saved content (its source is a message in the admin's chat on the fake) and, with access, the users. */
async function seed(ctx: RunContext, workload: Workload, users: number): Promise<void> {
  const db = ctx.client.db(ctx.dbName);
  await control(ctx.fake.controlUrl, '/seed', { chats: [{ chatId: ADMIN_ID, count: 1 }] });
  const now = Date.now();
  await db.collection('contents').insertOne({
    _id: CONTENT_ID as never,
    source_chat_id: ADMIN_ID,
    source_message_id: 1,
    created_by: ADMIN_ID,
    created_at: new Date(now - 3_600_000),
  });
  if (workload === 'verify') return;
  // Verified users: registered earlier, each holding a verified token that is still valid.
  const ids = Array.from({ length: users }, (_, i) => FIRST_USER + i);
  await db.collection('users').insertMany(
    ids.map((id, i) => ({
      user_id: id,
      chat_id: id,
      first_name: `U${i}`,
      last_name: null,
      username: null,
      joined_at: new Date(now - 86_400_000),
      last_seen_at: new Date(now - 3_600_000),
      blocked_at: null,
    })),
  );
  await db.collection('tokens').insertMany(
    ids.map((id) => ({
      token: `benchtoken${id}`,
      user_id: id,
      status: 'verified',
      created_at: new Date(now - 3_600_000),
      expires_at: new Date(now + 86_400_000),
      verified_at: new Date(now - 3_000_000),
    })),
  );
}

const latency = (values: number[]): LatencyFigures => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: values.length === 0 ? undefined : Math.max(...values),
});

interface Delivery {
  /** Sends `/start <payload>` for these users now; resolves with the injection time of each. */
  send(batch: { userId: number; text: string }[]): Promise<number[]>;
}

function queueDelivery(ctx: RunContext): Delivery {
  return {
    async send(batch) {
      const answer = await control(ctx.fake.controlUrl, '/users/messages', {
        messages: batch.map(({ userId, text }) => ({
          from: { id: userId, first_name: `U${userId - FIRST_USER}` },
          text,
        })),
      });
      return batch.map(() => answer.at as number);
    },
  };
}

function webhookDelivery(proxyUrl: string): Delivery {
  let updateId = 1;
  return {
    send(batch) {
      const at = Date.now();
      for (const { userId, text } of batch) {
        const update = startUpdate(updateId++, { id: userId, first_name: `U${userId - FIRST_USER}` }, text);
        // Not awaited: Telegram keeps up to max_connections posts open at once (the agent's sockets).
        void postUpdate(`${proxyUrl}${WEBHOOK_PATH}`, WEBHOOK_SECRET, update).catch(() => undefined);
      }
      return Promise.resolve(batch.map(() => at));
    },
  };
}

/**
 * Injects the first update of every user spread over one second (ten batches), follows the
 * replies, lets verify users open their verification link as soon as it arrives, and measures.
 */
async function drive(
  ctx: RunContext,
  workload: Workload,
  users: number,
  delivery: Delivery,
  timeoutMs: number,
): Promise<Omit<BurstRun, 'impl' | 'processes'>> {
  const expected = EXPECTED_REPLIES[workload];
  await control(ctx.fake.controlUrl, '/stats/reset', {});
  const follower = new CallFollower(ctx.fake.controlUrl);
  const firstAt = new Map<number, number>();
  const lastUpdateAt = new Map<number, number>();
  const verifyLinkAt = new Map<number, number>();
  const doneAt = new Map<number, number>();
  let updates = 0;
  const inject = async (batch: { userId: number; text: string }[]) => {
    if (batch.length === 0) return;
    const times = await delivery.send(batch);
    updates += batch.length;
    batch.forEach(({ userId }, i) => {
      const at = times[i]!;
      if (!firstAt.has(userId)) firstAt.set(userId, at);
      lastUpdateAt.set(userId, at);
    });
  };
  const ids = Array.from({ length: users }, (_, i) => FIRST_USER + i);
  const batches = 10;
  const perBatch = Math.ceil(users / batches);
  const started = Date.now();
  const injecting = (async () => {
    for (let b = 0; b < batches; b++) {
      const slice = ids.slice(b * perBatch, (b + 1) * perBatch);
      await inject(slice.map((userId) => ({ userId, text: `/start c_${CONTENT_ID}` })));
      const nextAt = started + ((b + 1) * 1_000) / batches;
      if (b < batches - 1) await sleep(Math.max(0, nextAt - Date.now()));
    }
  })();
  const deadline = Date.now() + timeoutMs;
  while (doneAt.size < users && Date.now() < deadline) {
    const sends = await follower.poll();
    const followUps: { userId: number; text: string }[] = [];
    for (const send of sends) {
      const userId = send.chatId!;
      if (!firstAt.has(userId)) continue;
      const token = send.text?.match(/\?start=v_([A-Za-z0-9_-]+)/)?.[1];
      if (workload === 'verify' && token && !verifyLinkAt.has(userId)) {
        verifyLinkAt.set(userId, send.time);
        // The user taps the link as soon as it arrives.
        followUps.push({ userId, text: `/start v_${token}` });
      }
      if (!doneAt.has(userId) && (follower.sendsByChat.get(userId)?.length ?? 0) >= expected) {
        doneAt.set(userId, send.time);
      }
    }
    await inject(followUps);
    await sleep(25);
  }
  await injecting;
  // Anything more would be a user answered twice (e.g. an update handled by two replicas).
  await sleep(1_500);
  await follower.poll();
  const stats = await control(ctx.fake.controlUrl, '/stats');
  const byStatus = stats.callsByStatus as Record<string, number>;
  const otherErrors = Object.fromEntries(
    Object.entries(byStatus).filter(([status]) => status !== '200' && status !== '429'),
  );
  const first = Math.min(...firstAt.values());
  const last = doneAt.size === 0 ? Date.now() : Math.max(...doneAt.values());
  const seconds = (last - first) / 1_000;
  const lastReply = (userId: number) => follower.sendsByChat.get(userId)?.at(-1)?.time;
  const served = [...doneAt.keys()];
  const rate = rates(follower.counted.map((call) => call.time));
  const { perSecond: _histogram, ...rateSummary } = rate;
  return {
    users,
    usersServed: served.length,
    usersExact: ids.filter((id) => follower.sendsByChat.get(id)?.length === expected).length,
    updates,
    seconds,
    secondsPerUser: seconds / Math.max(1, served.length),
    updatesPerSecond: updates / Math.max(seconds, 0.001),
    latencyMs: latency(served.map((id) => lastReply(id)! - lastUpdateAt.get(id)!)),
    ...(workload === 'verify'
      ? {
          firstStepLatencyMs: latency([...verifyLinkAt.entries()].map(([id, at]) => at - firstAt.get(id)!)),
          flowLatencyMs: latency(served.map((id) => lastReply(id)! - firstAt.get(id)!)),
        }
      : {}),
    botApiCalls: rate.calls,
    rate: rateSummary,
    maxRps: ctx.options.maxRps,
    answers429: stats.count429 as number,
    otherErrors,
  };
}

async function waitPolling(ctx: RunContext, child: ChildProcess, logFile: string): Promise<void> {
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  await until(
    'the bot to long-poll',
    async () => {
      if (exited) throw new Error(`the bot exited during start-up; see ${logFile}`);
      return (await control(ctx.fake.controlUrl, '/updates')).longPolling === true;
    },
    60_000,
  );
  // The command menu is set in the background at start: let it land before measuring.
  await sleep(500);
}

function replyTimeout(users: number, workload: Workload): number {
  return 60_000 + users * EXPECTED_REPLIES[workload] * 1_200;
}

async function pollingRun(
  options: InteractiveOptions,
  impl: 'ours' | 'baseline',
  workload: Workload,
  users: number,
): Promise<BurstRun> {
  return withRun(options, `${workload}_${impl}`, async (ctx) => {
    await seed(ctx, workload, users);
    const script = impl === 'ours' ? 'src/main.ts' : 'bench/baseline/serial-bot.ts';
    const logFile = join(ctx.logDir, `${impl}.log`);
    const child = startNodeProcess(script, botEnv(ctx), logFile);
    try {
      await waitPolling(ctx, child, logFile);
      options.log(`  ${impl}: ${users} users`);
      const figures = await drive(ctx, workload, users, queueDelivery(ctx), replyTimeout(users, workload));
      return { impl, processes: 1, ...figures };
    } finally {
      await stopService(child);
    }
  });
}

async function webhookRun(options: InteractiveOptions, users: number): Promise<BurstRun | string> {
  return withRun(options, 'content_webhook', async (ctx) => {
    await seed(ctx, 'content', users);
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const children = ports.map((port, i) =>
      startNodeProcess(
        'src/main.ts',
        botEnv(ctx, {
          BOT_MODE: 'webhook',
          WEBHOOK_URL: `https://bench.invalid${WEBHOOK_PATH}`,
          WEBHOOK_SECRET,
          WEBHOOK_PORT: String(port),
          WEBHOOK_HOST: '127.0.0.1',
        }),
        join(ctx.logDir, `replica-${i}.log`),
      ),
    );
    const proxy = await startRoundRobinProxy(ports);
    try {
      try {
        await until(
          'three webhook replicas to listen',
          async () => {
            const answers = await Promise.all(
              ports.map((port) =>
                fetch(`http://127.0.0.1:${port}/`).then(
                  () => true,
                  () => false,
                ),
              ),
            );
            return answers.every(Boolean);
          },
          30_000,
          200,
        );
      } catch {
        return `webhook mode is not on this branch: no replica listened on its WEBHOOK_PORT within 30 s (logs in ${ctx.logDir})`;
      }
      await sleep(1_000);
      options.log(`  ours, three webhook replicas: ${users} users`);
      const figures = await drive(
        ctx,
        'content',
        users,
        webhookDelivery(proxy.url),
        replyTimeout(users, 'content'),
      );
      return {
        impl: 'ours-webhook-3' as const,
        processes: 3,
        ...figures,
        perReplica: [...proxy.forwarded],
        webhookFailures: proxy.failures,
        note: `updates posted with at most ${TELEGRAM_CONNECTIONS} at once, as Telegram's default max_connections`,
      };
    } finally {
      await proxy.close();
      await Promise.all(children.map((child) => stopService(child)));
    }
  });
}

async function burstScenario(
  options: InteractiveOptions,
  id: 'content-burst' | 'verify-burst',
): Promise<BurstScenarioFigures> {
  const workload: Workload = id === 'content-burst' ? 'content' : 'verify';
  const title =
    workload === 'content'
      ? `content burst: ${options.users} users with access open a content link within 1 s (copy + note each)`
      : `verify burst: ${options.users} new users open a content link, then the verification link they get (4 messages each)`;
  options.log(`bench: ${title}`);
  const baseline = await pollingRun(options, 'baseline', workload, options.baselineUsers);
  const ours = await pollingRun(options, 'ours', workload, options.users);
  if (baseline.users < ours.users) {
    baseline.note = `measured on ${baseline.users} users (--baseline-users), not ${ours.users}`;
  }
  return {
    kind: 'burst',
    id,
    title,
    runs: [baseline, ours],
    speedUpPerUser: baseline.secondsPerUser / ours.secondsPerUser,
  };
}

async function webhookScenario(options: InteractiveOptions): Promise<BurstScenarioFigures> {
  const title = `webhook burst: the content burst of ${options.users} users posted to three webhook replicas behind a round-robin proxy`;
  options.log(`bench: ${title}`);
  const run = await webhookRun(options, options.users);
  if (typeof run === 'string') return { kind: 'burst', id: 'webhook-burst', title, runs: [], skipped: run };
  return { kind: 'burst', id: 'webhook-burst', title, runs: [run] };
}

async function broadcastScenario(options: InteractiveOptions): Promise<BroadcastScenarioFigures> {
  const instances = 3;
  const recipients = options.recipients;
  const title = `three instances on one database each broadcast to ${recipients} users at once`;
  options.log(`bench: ${title}`);
  return withRun(options, 'broadcast_3', async (ctx) => {
    const db = ctx.client.db(ctx.dbName);
    // Each instance's admin has a chat of their own holding the message to broadcast.
    const admins = Array.from({ length: instances }, (_, i) => ADMIN_ID + i);
    await control(ctx.fake.controlUrl, '/seed', { chats: admins.map((chatId) => ({ chatId, count: 1 })) });
    const now = Date.now();
    await db.collection('users').insertMany(
      Array.from({ length: recipients }, (_, i) => ({
        user_id: FIRST_USER + i,
        chat_id: FIRST_USER + i,
        first_name: `U${i}`,
        last_name: null,
        username: null,
        joined_at: new Date(now - 86_400_000),
        last_seen_at: new Date(now - 3_600_000),
        blocked_at: null,
      })),
    );
    const children = admins.map((adminId, i) =>
      startNodeProcess(
        'bench/interactive/broadcast-runner.ts',
        botEnv(ctx, {
          ADMIN_IDS: admins.join(','),
          BENCH_ADMIN_ID: String(adminId),
          BENCH_SOURCE_CHAT_ID: String(adminId),
          BENCH_SOURCE_MESSAGE_ID: '1',
        }),
        join(ctx.logDir, `instance-${i}.log`),
        'pipe',
      ),
    );
    try {
      const lines = children.map((child) => createInterface({ input: child.stdout! }));
      const outputs = lines.map((reader) => {
        const seen: string[] = [];
        reader.on('line', (line) => seen.push(line));
        return seen;
      });
      await until(
        'three instances ready',
        async () => {
          if (children.some((child) => child.exitCode !== null))
            throw new Error(`an instance exited; logs in ${ctx.logDir}`);
          return outputs.every((seen) => seen.includes('ready'));
        },
        60_000,
      );
      await control(ctx.fake.controlUrl, '/stats/reset', {});
      for (const child of children) child.stdin!.write('go\n');
      // Not fatal when it takes too long: what was sent by then is the finding.
      const timeoutMs = 60_000 + ((instances * recipients * 1_000) / Math.max(1, options.maxRps)) * 3;
      const timedOut = await until(
        'three broadcasts to end',
        async () => {
          if (children.some((child) => child.exitCode !== null && child.exitCode !== 0))
            throw new Error(`an instance failed; logs in ${ctx.logDir}`);
          return outputs.every((seen) => seen.some((line) => line.startsWith('{')));
        },
        timeoutMs,
        100,
      ).then(
        () => false,
        (error: unknown) => {
          if (!String(error).includes('timed out')) throw error;
          options.log(`  not finished after ${timeoutMs / 1000} s; measuring what was sent`);
          return true;
        },
      );
      const follower = new CallFollower(ctx.fake.controlUrl);
      await follower.poll();
      const stats = await control(ctx.fake.controlUrl, '/stats');
      const perInstance = outputs.map((seen) => {
        const line = seen.find((entry) => entry.startsWith('{'));
        if (!line)
          return { total: recipients, wallMs: timeoutMs, status: 'not finished', delivered: 0, failed: 0 };
        const report = JSON.parse(line) as {
          total: number;
          wallMs: number;
          status: string;
          counts: { delivered: number; failed: number };
        };
        return {
          total: report.total,
          wallMs: report.wallMs,
          status: report.status,
          delivered: report.counts.delivered,
          failed: report.counts.failed,
        };
      });
      const copies = rates(
        follower.counted.filter((call) => call.method === 'copyMessage').map((c) => c.time),
      );
      const { perSecond: _copyHistogram, ...copySummary } = copies;
      let usersWithAllCopies = 0;
      for (let i = 0; i < recipients; i++) {
        const sends = follower.sendsByChat.get(FIRST_USER + i) ?? [];
        if (sends.filter((call) => call.method === 'copyMessage').length === instances) usersWithAllCopies++;
      }
      return {
        kind: 'broadcast' as const,
        id: 'broadcast-3' as const,
        title,
        instances,
        recipients,
        maxRps: options.maxRps,
        combined: rates(follower.counted.map((call) => call.time)),
        copies: copySummary,
        answers429: stats.count429 as number,
        perInstance,
        usersWithAllCopies,
        copiesDelivered: follower.counted.filter(
          (call) => call.method === 'copyMessage' && call.status === 200,
        ).length,
        timedOut,
      };
    } finally {
      await Promise.all(children.map((child) => stopService(child)));
    }
  });
}

export async function runInteractive(
  options: InteractiveOptions,
  selected: readonly InteractiveId[],
): Promise<InteractiveFigures[]> {
  const figures: InteractiveFigures[] = [];
  for (const id of selected) {
    if (id === 'content-burst' || id === 'verify-burst') figures.push(await burstScenario(options, id));
    else if (id === 'webhook-burst') figures.push(await webhookScenario(options));
    else figures.push(await broadcastScenario(options));
  }
  return figures;
}
