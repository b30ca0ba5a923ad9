import { Api } from 'grammy';
import { MongoClient } from 'mongodb';
import { DeletionEngine } from '../../../bot/deletion/deletion-engine.js';
import { safeLifetimeMs } from '../../../bot/deletion/deletion-window.js';
import { Broadcaster, type BroadcastRequest } from '../../../bot/services/broadcaster.js';
import { applyInteractivePolicy, createApiPolicy, createBulkApi } from '../../../bot/telegram/api.js';
import { FloodGate } from '../../../bot/telegram/flood-gate.js';
import { createRateLimiter } from '../../../bot/telegram/rate-limiter.js';
import { type Database, wrapClient } from '../../../db/client.js';
import { createRepositories } from '../../../db/repositories/index.js';
import type { JobDefinition } from '../../../schedulers/job.js';
import { createJobs, JOB_NAMES, type JobDeps } from '../../../schedulers/jobs/index.js';
import type { RunOutcome } from '../../../schedulers/run-executor.js';
import type { SchedulerRuntime } from '../../../schedulers/runtime.js';
import type { Logger } from '../../../src/logger.js';
import { testRuntime } from '../runtime.js';
import { compressedTime, type VirtualClock } from './clocks.js';
import { DbProxy } from './db-proxy.js';
import { TelegramLink } from './telegram-link.js';

/** The knobs of the simulated deployment, in real milliseconds unless said otherwise. */
export const CHAOS = {
  /** LEASE_SECONDS, scaled down: claims and broadcast senders are judged by the server's real time. */
  leaseMs: 500,
  /** DELETION_BATCH_SIZE: small, so that runs have several batches to be cut in the middle of. */
  batchSize: 4,
  /** TELEGRAM_CONCURRENCY. */
  concurrency: 3,
  /** 1 s of Telegram's retry_after lasts 1000/floodScale ms of real time. */
  floodScale: 1_000,
  /** SHUTDOWN_TIMEOUT_MS of a graceful stop. */
  shutdownBudgetMs: 1_000,
  /** The message deleter's period the content lifetimes are planned for (`* * * * *`). */
  messageDeleterPeriodMs: 60_000,
  /** The broadcast deleter's period (`0 * * * *`). */
  broadcastDeleterPeriodMs: 3_600_000,
} as const;

/** Fires on 29 February only: runs are started by the test (runNow), never by the wall clock. */
const NEVER = '0 0 29 2 *';

export const SAFE_CONTENT_MINUTES = Math.floor(safeLifetimeMs(CHAOS.messageDeleterPeriodMs) / 60_000);
export const SAFE_BROADCAST_MINUTES = Math.floor(safeLifetimeMs(CHAOS.broadcastDeleterPeriodMs) / 60_000);

export interface Execution {
  instance: string;
  job: string;
  runId: string;
  attempt: number;
  /** Date.now() of the job body's start and end (the emulator's $$NOW is the same clock). */
  start: number;
  end: number | undefined;
}

export interface InstanceEnv {
  emulator: { host: string; port: number };
  apiRoot: string;
  token: string;
  botUsername: string;
  dbName: string;
  clock: VirtualClock;
  logger: Logger;
  onExecution(execution: Execution): void;
}

export interface InstanceSpec {
  id: string;
  /** This instance's clock minus the world's, in ms (|skew| <= 0.9 x lease). */
  skewMs: number;
  /** A per-attempt timeout for the deleters (attempt timeouts as a fault); undefined keeps the job's own. */
  attemptTimeoutMs: number | undefined;
}

/**
 * One bot process, as src/app.ts and src/maintenance.ts wire it: its own MongoClient (through its
 * own proxy), its own Bot API clients built by the production functions (through its own link),
 * one flood gate, the four maintenance jobs on a SchedulerRuntime, and a Broadcaster that sweeps
 * for dead senders. The differences from production are the scale of time (lease, heartbeats,
 * driver timeouts, flood waits) and schedules that never fire (the test starts every run).
 */
export class ChaosInstance {
  readonly runtime: SchedulerRuntime;
  readonly broadcaster: Broadcaster;
  readonly gate: FloodGate;
  state: 'live' | 'stopping' | 'gone' = 'live';
  /** Background work of this instance the test started (runs, broadcasts). */
  readonly activity = new Set<Promise<unknown>>();
  private teardown: Promise<void> | undefined;
  private sending = 0;
  private hungSince: number | undefined;

  private constructor(
    readonly spec: InstanceSpec,
    readonly proxy: DbProxy,
    readonly link: TelegramLink,
    readonly client: MongoClient,
    readonly database: Database,
    env: InstanceEnv,
  ) {
    const clock = () => new Date(env.clock.now() + spec.skewMs);
    const logger = env.logger.child({ instance: spec.id });
    this.gate = new FloodGate(compressedTime(CHAOS.floodScale));
    const policy = createApiPolicy({
      limiter: createRateLimiter({ maxPerSecond: 1_000, perChatPerSecond: 1_000 }),
      gate: this.gate,
      // TELEGRAM_MAX_RETRY_AFTER_SECONDS (60 s, the lease) scaled like the lease: any 429 fails an
      // interactive call (grammY's auto-retry would wait retry_after in real seconds). Only the
      // broadcast's progress messages use that lane here; the bulk lane waits at the flood gate.
      maxRetryAfterSeconds: 0,
      maxRateLimitRetries: 10,
    });
    const api = createBulkApi(env.token, env.apiRoot, policy, { fetch: link.fetch });
    const progressApi = applyInteractivePolicy(
      new Api(env.token, { apiRoot: env.apiRoot, fetch: link.fetch }),
      policy,
    );
    const telegramRetry = { retries: 2, baseDelayMs: 5 };
    const repos = createRepositories(database.collections);
    const deps: JobDeps = {
      repos,
      api,
      engine: new DeletionEngine({
        api,
        logger: logger.child({ component: 'deletion' }),
        retry: telegramRetry,
      }),
      botUsername: async () => env.botUsername,
      timezone: 'UTC',
      adminIds: [],
      batchSize: CHAOS.batchSize,
      contentSafeLifetimeMs: () => SAFE_CONTENT_MINUTES * 60_000,
      telegramRetry,
      concurrency: CHAOS.concurrency,
      // Never scheduled here (NEVER); a manual run would fail on the missing directory.
      backup: {
        db: database.db,
        dir: '/nonexistent/chaos-backups',
        keep: 1,
        sendToAdmins: false,
        adminIds: [],
      },
    };
    const jobs = createJobs(
      deps,
      Object.fromEntries(JOB_NAMES.map((name) => [name, NEVER])) as Record<
        (typeof JOB_NAMES)[number],
        string
      >,
    ).map((job) => instrument(job, spec, env));
    this.runtime = testRuntime({
      db: database.db,
      jobs,
      timezone: 'UTC',
      logger,
      instanceId: spec.id,
      clock,
      // Claims are stamped with the virtual clock; their history must not expire under the TTL
      // monitor, which reads the emulator's (real) clock.
      historyDays: 36_500,
      catchUpGraceMs: 3_600_000,
      retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
      leaseMs: CHAOS.leaseMs,
      // The wiring's ratio (a sixth of the lease); its 500 ms floor is for real leases.
      heartbeatIntervalMs: Math.floor(CHAOS.leaseMs / 6),
      abortGraceMs: 200,
    });
    this.broadcaster = new Broadcaster({
      api,
      progressApi,
      gate: this.gate,
      repos,
      logger: logger.child({ component: 'broadcast' }),
      clock,
      instanceId: spec.id,
      timezone: 'UTC',
      batchSize: CHAOS.batchSize,
      concurrency: CHAOS.concurrency,
      retry: telegramRetry,
      protectContent: true,
      leaseMs: CHAOS.leaseMs,
      progressIntervalMs: 0,
    });
  }

  static async start(spec: InstanceSpec, env: InstanceEnv): Promise<ChaosInstance> {
    const proxy = await DbProxy.start(env.emulator);
    const link = new TelegramLink();
    // The production driver settings, scaled with the lease (60 s in production): server selection
    // 10 s (a sixth), connect timeout 30 s (a half), monitoring every 10 s.
    const client = new MongoClient(proxy.uri, {
      directConnection: true,
      appName: spec.id,
      serverSelectionTimeoutMS: Math.floor(CHAOS.leaseMs / 5),
      connectTimeoutMS: Math.floor(CHAOS.leaseMs / 2),
      heartbeatFrequencyMS: Math.floor(CHAOS.leaseMs / 5),
      minHeartbeatFrequencyMS: 10,
      maxPoolSize: 20,
    });
    try {
      // The first connection is not part of any fault schedule: on a loaded machine a 100 ms
      // server selection can miss once, so it gets a few tries.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.connect();
          break;
        } catch (error) {
          if (attempt >= 5) throw error;
        }
      }
    } catch (error) {
      proxy.close();
      link.kill();
      throw error;
    }
    const instance = new ChaosInstance(spec, proxy, link, client, wrapClient(client, env.dbName), env);
    await instance.runtime.start();
    instance.broadcaster.startSweeping();
    return instance;
  }

  get id(): string {
    return this.spec.id;
  }

  get isLive(): boolean {
    return this.state === 'live';
  }

  /** Starts a run now (claimed like /run or a scheduled tick), in the background. */
  run(job: string): Promise<RunOutcome | undefined> {
    // A run that cannot even be claimed (MongoDB down, the instance killed) is just not run.
    const run = this.runtime.runNow(job).catch(() => undefined);
    this.track(run);
    return run;
  }

  /** Starts a broadcast (as /broadcast does); sending goes on in the background. */
  broadcast(request: BroadcastRequest): Promise<boolean> {
    // Counted from the call (a stop or a kill can come while start() is under way) until the
    // broadcaster has nothing left to send: an upper bound when broadcasts overlap.
    this.sending += 1;
    const started = this.broadcaster.start(request).then(
      () => {
        void this.broadcaster.whenIdle().then(() => {
          this.sending -= 1;
        });
        return true;
      },
      () => {
        this.sending -= 1;
        return false;
      },
    );
    this.track(started);
    return started;
  }

  /**
   * Whether this instance's MongoClient hit the driver's polling-monitor hang (mongodb 7.9.0; see
   * test/chaos/driver-monitor-hang.test.ts): a check started on a monitoring connection whose
   * socket Node had destroyed before emitting 'close' waits for a 'drain' that never comes, the
   * monitor never checks again, and once the server is marked Unknown every operation fails
   * server selection for good. To MongoDB and the other instances the process is then as good as
   * dead, which is how the chaos world treats it.
   */
  get driverMonitorHung(): boolean {
    // biome-ignore lint/suspicious/noExplicitAny: the driver's internals, read only to recognise its bug
    const topology = (this.client as any).topology;
    const server = topology ? [...topology.s.servers.values()][0] : undefined;
    const monitor = server?.monitor;
    const hung = monitor?.s?.state === 'monitoring' && monitor.connection?.closed === true;
    if (!hung) {
      this.hungSince = undefined;
      return false;
    }
    this.hungSince ??= Date.now();
    // A check on a closed connection normally fails within a tick; give it the connect timeout.
    return Date.now() - this.hungSince > CHAOS.leaseMs;
  }

  /** When the watchdog first saw the driver's monitor hung (see driverMonitorHung). */
  get driverHungSince(): number | undefined {
    return this.hungSince;
  }

  /** Broadcasts this instance may be sending right now (started since it was last idle). */
  get sendingBroadcasts(): number {
    return this.sending;
  }

  /** Whether the test's runs and broadcasts on this instance have all settled, within `ms`. */
  async idleWithin(ms: number): Promise<boolean> {
    const idle = (async () => {
      while (this.activity.size > 0) await Promise.allSettled([...this.activity]);
      await this.runtime.waitForIdle();
      await this.broadcaster.whenIdle();
    })();
    return settlesWithin(idle, ms);
  }

  stall(): void {
    this.proxy.stall();
    this.link.stall();
  }

  resume(): void {
    this.proxy.resume();
    this.link.resume();
  }

  /**
   * SIGKILL: the connections die first (nothing this instance does from now on reaches the
   * database or Telegram), then its timers are stopped in the background so the test process
   * does not keep them; whatever its code does while unwinding is invisible to the world.
   */
  kill(): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    this.proxy.kill();
    this.link.kill();
    this.teardown ??= this.release();
  }

  /**
   * SIGTERM: runs get their abort signal and the shutdown budget, broadcasts stop and are reported,
   * then the process exits (its connections die). Resolves with whether everything settled within
   * the budget (if not, the exit cut work short, like a kill).
   */
  async stop(budgetMs: number = CHAOS.shutdownBudgetMs): Promise<boolean> {
    if (this.state !== 'live') return true;
    this.state = 'stopping';
    await Promise.all([this.runtime.stop({ timeoutMs: budgetMs }), this.broadcaster.stop(budgetMs)]);
    const settled = await this.idleWithin(0);
    this.state = 'gone';
    this.proxy.kill();
    this.link.kill();
    this.teardown ??= this.release();
    return settled;
  }

  /** Resolves once everything of this instance is released (end of a run). */
  async close(): Promise<void> {
    if (this.state === 'live') await this.stop();
    this.kill();
    await this.teardown;
  }

  private async release(): Promise<void> {
    await Promise.allSettled([
      this.runtime.stop({ timeoutMs: 2_000 }),
      this.broadcaster.stop(500),
      this.idleWithin(3_000),
    ]);
    await this.client.close(true).catch(() => undefined);
    this.proxy.close();
  }

  private track(work: Promise<unknown>): void {
    this.activity.add(work);
    void work.finally(() => this.activity.delete(work));
  }
}

/** Records each execution of a deleter's body, with an attempt timeout when the schedule asks for one. */
function instrument(job: JobDefinition, spec: InstanceSpec, env: InstanceEnv): JobDefinition {
  if (job.name !== 'message-deleter' && job.name !== 'broadcast-deleter') return job;
  return {
    ...job,
    ...(spec.attemptTimeoutMs === undefined ? {} : { timeoutMs: spec.attemptTimeoutMs }),
    run: async (ctx) => {
      const execution: Execution = {
        instance: spec.id,
        job: job.name,
        runId: ctx.runId,
        attempt: ctx.attempt,
        start: Date.now(),
        end: undefined,
      };
      env.onExecution(execution);
      try {
        return await job.run(ctx);
      } finally {
        execution.end = Date.now();
      }
    },
  };
}

export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void work.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}
