import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiObserver } from '../../bot/telegram/api.js';
import { catalogEntry } from '../../schedulers/jobs/catalog.js';
import type { RunEvent, SchedulerRuntime } from '../../schedulers/runtime.js';
import type { Logger } from '../logger.js';
import { withDeadline } from './deadline.js';
import { type DeletionBacklogSource, readDeletionBacklog } from './deletion-backlog.js';

export const METRIC_PREFIX = 'tgbot_';

/** The scrape-time figures come from these; the repositories of `createRepositories()` fit. */
export interface BacklogSources {
  pendingDeletions: DeletionBacklogSource;
  broadcasts: { countActive(now: Date): Promise<number> };
}

export interface OpsMetricsOptions {
  backlog: BacklogSources;
  logger: Logger;
  clock?: () => Date;
  /** Bound on the scrape-time queries, well inside Prometheus' default 10 s scrape timeout. */
  backlogTimeoutMs?: number;
  /** Node.js process metrics (CPU, memory, event loop lag, GC, handles); default true. */
  defaultMetrics?: boolean;
}

/** Telegram's answer folded into few values, so the series count stays small. */
export type ApiCallResult = 'ok' | '429' | '4xx' | '5xx' | 'network';

export function apiCallResult(ok: boolean, errorCode: number | undefined): ApiCallResult {
  if (ok) return 'ok';
  if (errorCode === undefined) return 'network';
  if (errorCode === 429) return '429';
  return errorCode >= 500 ? '5xx' : '4xx';
}

const RUN_STATUSES = ['succeeded', 'failed', 'skipped', 'abandoned'] as const;

/** Run durations go from milliseconds (nothing to do) to hours (a 100,000-recipient broadcast). */
const RUN_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 10_800, 21_600];

type BacklogSample =
  | { ok: true; due: number; oldestOverdueSeconds: number; activeBroadcasts: number }
  | { ok: false };

/**
 * The bot's Prometheus metrics in a registry of their own, so that tests and several instances in
 * one process never collide on prom-client's global registry. Jobs are labelled `job_name`, not
 * `job`: Prometheus gives every scraped series a `job` label of its own (the scrape job).
 */
export class OpsMetrics {
  readonly registry = new Registry();
  /** Pass to `createApiPolicy(config, observer)` so every Bot API call is counted. */
  readonly apiObserver: ApiObserver;

  private readonly clock: () => Date;
  private readonly logger: Logger;
  private readonly backlogTimeoutMs: number;
  private readonly runs: Counter<'job_name' | 'status'>;
  private readonly runDuration: Histogram<'job_name'>;
  private readonly lastSuccess: Gauge<'job_name'>;
  private readonly itemsProcessed: Counter<'job_name'>;
  private readonly itemsFailed: Counter<'job_name'>;
  private readonly noticesSent: Counter<'job_name'>;
  private readonly apiCalls: Counter<'method' | 'result'>;
  private readonly rateLimited: Counter<'method'>;
  private readonly retryAfter: Counter<'method'>;
  private backlogInFlight: Promise<BacklogSample> | undefined;
  private backlogAvailable = true;

  constructor(private readonly options: OpsMetricsOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger;
    this.backlogTimeoutMs = options.backlogTimeoutMs ?? 2_000;
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.runs = new Counter({
      name: `${METRIC_PREFIX}scheduler_runs_total`,
      help: 'Job runs this instance finished, by job and status (succeeded, failed, skipped, abandoned).',
      labelNames: ['job_name', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: `${METRIC_PREFIX}scheduler_run_duration_seconds`,
      help: 'Wall time of job runs that were not skipped, retries and backoff included.',
      labelNames: ['job_name'],
      buckets: RUN_DURATION_BUCKETS,
      registers,
    });
    this.lastSuccess = new Gauge({
      name: `${METRIC_PREFIX}scheduler_last_success_timestamp_seconds`,
      help: 'Unix time of the last run of the job that succeeded on this instance.',
      labelNames: ['job_name'],
      registers,
    });
    this.itemsProcessed = new Counter({
      name: `${METRIC_PREFIX}job_items_processed_total`,
      help: 'Items jobs finished: tokens or counters deleted, messages deleted from chats.',
      labelNames: ['job_name'],
      registers,
    });
    this.itemsFailed = new Counter({
      name: `${METRIC_PREFIX}job_items_failed_total`,
      help: 'Messages jobs gave up deleting for good (too old, chat unreachable, out of attempts).',
      labelNames: ['job_name'],
      registers,
    });
    this.noticesSent = new Counter({
      name: `${METRIC_PREFIX}job_notices_sent_total`,
      help: '"Deleted" notices with a Click Here button left in chats by the message deleter.',
      labelNames: ['job_name'],
      registers,
    });
    this.apiCalls = new Counter({
      name: `${METRIC_PREFIX}telegram_api_calls_total`,
      help: 'HTTP requests to the Bot API, each retry counted, by method and result (ok, 429, 4xx, 5xx, network).',
      labelNames: ['method', 'result'],
      registers,
    });
    this.rateLimited = new Counter({
      name: `${METRIC_PREFIX}telegram_api_rate_limited_total`,
      help: 'Bot API answers 429 Too Many Requests (flood control), by method.',
      labelNames: ['method'],
      registers,
    });
    this.retryAfter = new Counter({
      name: `${METRIC_PREFIX}telegram_api_retry_after_seconds_total`,
      help: 'Seconds Telegram asked the bot to wait (retry_after of 429 answers), summed, by method.',
      labelNames: ['method'],
      registers,
    });

    // The gauges below read MongoDB when scraped; one shared sample serves all of them.
    const sample = () => this.sampleBacklog();
    new Gauge({
      name: `${METRIC_PREFIX}pending_deletions_due`,
      help: 'Pending deletions whose time has come (shared database: same value on every instance). NaN when the database did not answer.',
      registers,
      async collect() {
        const s = await sample();
        this.set(s.ok ? s.due : Number.NaN);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}pending_deletions_oldest_overdue_seconds`,
      help: 'How long the oldest due pending deletion has been waiting; 0 when none is due. NaN when the database did not answer.',
      registers,
      async collect() {
        const s = await sample();
        this.set(s.ok ? s.oldestOverdueSeconds : Number.NaN);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}broadcasts_active`,
      help: 'Broadcasts not yet due for deletion (shared database). NaN when the database did not answer.',
      registers,
      async collect() {
        const s = await sample();
        this.set(s.ok ? s.activeBroadcasts : Number.NaN);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}backlog_stats_up`,
      help: `1 when the scrape-time database queries answered within ${this.backlogTimeoutMs} ms, else 0.`,
      registers,
      async collect() {
        this.set((await sample()).ok ? 1 : 0);
      },
    });

    this.apiObserver = {
      onCall: ({ method, ok, errorCode }) =>
        this.guard(() => {
          this.apiCalls.inc({ method, result: apiCallResult(ok, errorCode) });
          if (errorCode === 429) this.rateLimited.inc({ method });
        }),
      onRateLimited: ({ method, retryAfterSeconds }) =>
        this.guard(() => this.retryAfter.inc({ method }, retryAfterSeconds)),
    };
  }

  /** Counts a finished run; `watch()` feeds it from the runtime. */
  recordRun(event: RunEvent): void {
    this.guard(() => {
      const labels = { job_name: event.job };
      this.runs.inc({ ...labels, status: event.status });
      if (event.status === 'skipped') return;
      this.runDuration.observe(labels, event.durationMs / 1000);
      if (event.status === 'succeeded') this.lastSuccess.set(labels, this.clock().getTime() / 1000);
      const result = event.result;
      if (result === null) return;
      const field = catalogEntry(event.job)?.processedField;
      const processed = field === undefined ? undefined : countIn(result, field);
      if (processed !== undefined) this.itemsProcessed.inc(labels, processed);
      const failed = countIn(result, 'failed');
      if (failed !== undefined) this.itemsFailed.inc(labels, failed);
      const notices = countIn(result, 'notices');
      if (notices !== undefined) this.noticesSent.inc(labels, notices);
    });
  }

  /**
   * Feeds every finished run of `runtime` into the metrics; returns the unsubscribe function.
   * The runtime's jobs start at 0 so that `increase()` sees their first run: Prometheus cannot
   * tell how much a series grew before it first scraped it.
   */
  watch(runtime: Pick<SchedulerRuntime, 'onRunFinished' | 'jobNames'>): () => void {
    for (const job of runtime.jobNames) {
      const labels = { job_name: job };
      for (const status of RUN_STATUSES) this.runs.inc({ ...labels, status }, 0);
      this.runDuration.zero(labels);
      this.itemsProcessed.inc(labels, 0);
      this.itemsFailed.inc(labels, 0);
      this.noticesSent.inc(labels, 0);
    }
    return runtime.onRunFinished((event) => this.recordRun(event));
  }

  /** Prometheus' text format, as `/metrics` serves it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private sampleBacklog(): Promise<BacklogSample> {
    this.backlogInFlight ??= this.readBacklog().finally(() => {
      this.backlogInFlight = undefined;
    });
    return this.backlogInFlight;
  }

  private async readBacklog(): Promise<BacklogSample> {
    const now = this.clock();
    const { pendingDeletions, broadcasts } = this.options.backlog;
    try {
      const [deletions, activeBroadcasts] = await withDeadline(
        Promise.all([readDeletionBacklog(pendingDeletions, now), broadcasts.countActive(now)]),
        this.backlogTimeoutMs,
        'backlog queries',
      );
      if (!this.backlogAvailable) this.logger.info('backlog metrics are available again');
      this.backlogAvailable = true;
      return {
        ok: true,
        due: deletions.due,
        oldestOverdueSeconds: deletions.oldestOverdueMs / 1000,
        activeBroadcasts,
      };
    } catch (error) {
      // Once per outage: Prometheus scrapes every few seconds and would flood the log.
      if (this.backlogAvailable) {
        this.logger.warn(
          { err: error },
          'backlog metrics unavailable (database did not answer); they read NaN until it does',
        );
      }
      this.backlogAvailable = false;
      return { ok: false };
    }
  }

  /** Metrics must never break what they observe: a bad value is logged and dropped. */
  private guard(update: () => void): void {
    try {
      update();
    } catch (error) {
      this.logger.debug({ err: error }, 'a metric update was dropped');
    }
  }
}

function countIn(result: Readonly<Record<string, number>>, field: string): number | undefined {
  const value = result[field];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
