import type { RunDoc } from '../../db/collections.js';
import type { AlertsRepository, Delivery } from '../../db/repositories/alerts.js';
import type { RunHistory } from '../../db/repositories/runs.js';
import type { SchedulerRuntime } from '../../schedulers/runtime.js';
import type { Logger } from '../logger.js';
import { createRedactor, type Redactor } from '../redact.js';
import { type MessageSender, notifyAdmins } from './admin-notifier.js';
import { withDeadline } from './deadline.js';
import { type DeletionBacklogSource, readDeletionBacklog } from './deletion-backlog.js';

export const DELETION_LAG_ALERT = 'deletion-lag';
const REDELIVERY = 'redelivery';
/** Time the instance that won a change has to send it before another may resend what is left. */
const DELIVERY_LEASE_MS = 5 * 60_000;
export const jobFailingAlert = (job: string) => `job-failing:${job}`;

export interface AlertMonitorOptions {
  /** Where "failed N times in a row" is read. */
  runs: Pick<RunHistory, 'recentOutcomes'>;
  /** Whether each alert is on, shared by every instance. */
  alerts: AlertsRepository;
  /** Sends the alerts; grammY's `Api` with the process' API policy fits. */
  api: MessageSender;
  adminIds: readonly number[];
  /** `repos.pendingDeletions` fits. */
  deletions: DeletionBacklogSource;
  logger: Logger;
  /** Failed runs in a row that raise a job alert (`ALERT_FAILURE_THRESHOLD`); default 3. */
  failureThreshold?: number;
  /** A due deletion waiting longer than this raises the lag alert; default 15 minutes. */
  deletionLagMs?: number;
  /** How often `start()` checks the deletion lag and resends undelivered alerts; default 1 minute. */
  lagCheckIntervalMs?: number;
  clock?: () => Date;
  /** Bound on each check's database query; default 10 s. */
  queryTimeoutMs?: number;
  /** Values to blank out of job errors quoted to admins, besides tokens and URI passwords. */
  secrets?: readonly string[];
}

type CountedRun = Pick<RunDoc, '_id' | 'status' | 'error' | 'started_at' | 'finished_at'>;

/**
 * Tells the admins in Telegram when a job keeps failing or deletions fall behind, once when it
 * starts and once when it is over. "In a row" is read from the shared run history, so runs on
 * every instance count, and the alert state lives in MongoDB, so one instance sends each message.
 * Admins Telegram could not reach for now (5xx, network) get the message on a later tick.
 * Nothing here throws: a check that cannot run is logged and tried again on the next occasion.
 */
export class AlertMonitor {
  private readonly state: AlertsRepository;
  private readonly runs: Pick<RunHistory, 'recentOutcomes'>;
  private readonly clock: () => Date;
  private readonly logger: Logger;
  private readonly redact: Redactor;
  private readonly failureThreshold: number;
  private readonly deletionLagMs: number;
  private readonly queryTimeoutMs: number;
  /** The check in progress per alert key; a check of the same alert waits for the previous one. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: AlertMonitorOptions) {
    this.state = options.alerts;
    this.runs = options.runs;
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger.child({ component: 'alerts' });
    this.redact = createRedactor(options.secrets);
    this.failureThreshold = options.failureThreshold ?? 3;
    this.deletionLagMs = options.deletionLagMs ?? 15 * 60_000;
    this.queryTimeoutMs = options.queryTimeoutMs ?? 10_000;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) {
      throw new Error(`failureThreshold must be a whole number of at least 1, got ${this.failureThreshold}`);
    }
  }

  /** Checks a job's alert after each of its runs that succeeded or failed; returns the unsubscribe function. */
  watch(runtime: Pick<SchedulerRuntime, 'onRunFinished'>): () => void {
    return runtime.onRunFinished((event) => {
      // Skipped and abandoned runs say nothing about whether the job works.
      if (event.status === 'succeeded' || event.status === 'failed') void this.checkJob(event.job);
    });
  }

  /** Checks the deletion lag and resends undelivered alerts now and then every `lagCheckIntervalMs`. */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    const tick = () => {
      // A check still waiting on a slow database is not queued behind again.
      if (!this.running.has(DELETION_LAG_ALERT)) void this.checkNow();
      if (!this.running.has(REDELIVERY)) void this.redeliver();
    };
    this.timer = setInterval(tick, this.options.lagCheckIntervalMs ?? 60_000);
    this.timer.unref();
    tick();
  }

  /** Stops the periodic check and waits for checks in progress; later checks do nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.whenIdle();
  }

  /** The deletion lag check, at once; resolves when it is done (never rejects). */
  checkNow(): Promise<void> {
    return this.serialized(DELETION_LAG_ALERT, () => this.checkDeletionLag());
  }

  /** The job-failing check for one job, at once; resolves when it is done (never rejects). */
  checkJob(job: string): Promise<void> {
    return this.serialized(jobFailingAlert(job), () => this.checkJobRuns(job));
  }

  /** Resends alerts and recoveries to the admins an earlier attempt could not reach for now. */
  redeliver(): Promise<void> {
    return this.serialized(REDELIVERY, async () => {
      const tried: string[] = [];
      for (;;) {
        const delivery = await this.state.claimRedelivery(DELIVERY_LEASE_MS, tried);
        if (delivery === null) return;
        tried.push(delivery.key);
        this.logger.info(
          { alert: delivery.key, admins: delivery.recipients },
          'resending an alert that did not reach every admin',
        );
        await this.deliver(delivery);
      }
    });
  }

  /** Resolves when no check is in progress (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  private serialized(key: string, check: () => Promise<void>): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const previous = this.running.get(key) ?? Promise.resolve();
    const next: Promise<void> = previous
      .then(check)
      .catch((error: unknown) =>
        this.logger.warn(
          { err: error, alert: key },
          'alert check failed; it runs again on the next occasion',
        ),
      )
      .finally(() => {
        if (this.running.get(key) === next) this.running.delete(key);
      });
    this.running.set(key, next);
    return next;
  }

  private async checkJobRuns(job: string): Promise<void> {
    const key = jobFailingAlert(job);
    const latest: CountedRun[] = await withDeadline(
      this.runs.recentOutcomes(job, this.failureThreshold),
      this.queryTimeoutMs,
      'run history',
    );
    const now = this.clock();
    const newest = latest[0];
    if (newest === undefined) return;

    if (latest.length === this.failureThreshold && latest.every((run) => run.status === 'failed')) {
      const summary = `job ${job} failed ${this.failureThreshold} times in a row`;
      const lastError = this.redact(newest.error ?? 'no error recorded').slice(0, 500);
      const delivery = await this.state.raise(key, {
        summary,
        message: [
          `⚠️ Scheduled job "${job}" failed ${this.failureThreshold} times in a row.`,
          `Last error: ${lastError}`,
          `Last failure: ${isoTime(newest.finished_at ?? newest.started_at)}`,
          'It keeps running on its schedule; you will get one more message when it works again.',
        ].join('\n'),
        ...this.changeBase(now),
      });
      if (delivery === null) return;
      this.logger.error({ alert: key, job, lastError }, `alert raised: ${summary}`);
      await this.deliver(delivery);
    } else if (newest.status === 'succeeded') {
      const delivery = await this.state.resolve(key, {
        message: `✅ Scheduled job "${job}" works again: its latest run succeeded (${isoTime(newest.finished_at ?? newest.started_at)}).`,
        ...this.changeBase(now),
      });
      if (delivery === null) return;
      this.logger.info({ alert: key, job }, `alert resolved: job ${job} works again`);
      await this.deliver(delivery);
    }
  }

  private async checkDeletionLag(): Promise<void> {
    const now = this.clock();
    const backlog = await withDeadline(
      readDeletionBacklog(this.options.deletions, now),
      this.queryTimeoutMs,
      'deletion backlog',
    );
    const threshold = formatDuration(this.deletionLagMs);
    if (backlog.oldestOverdueMs > this.deletionLagMs) {
      const waited = formatDuration(backlog.oldestOverdueMs);
      const summary = `the oldest due deletion has waited ${waited} (threshold ${threshold})`;
      const delivery = await this.state.raise(DELETION_LAG_ALERT, {
        summary,
        message: [
          `⚠️ Deletions are falling behind: the oldest due deletion has waited ${waited} (alert threshold: ${threshold}); ${backlog.due} ${backlog.due === 1 ? 'deletion is' : 'deletions are'} due.`,
          'Check that the message-deleter job runs and succeeds, and whether Telegram is throttling the bot (429 answers).',
          'You will get one more message when deletions have caught up.',
        ].join('\n'),
        ...this.changeBase(now),
      });
      if (delivery === null) return;
      this.logger.error(
        { alert: DELETION_LAG_ALERT, due: backlog.due, oldestOverdueMs: backlog.oldestOverdueMs },
        `alert raised: deletions are falling behind, ${summary}`,
      );
      await this.deliver(delivery);
    } else {
      const delivery = await this.state.resolve(DELETION_LAG_ALERT, {
        message: `✅ Deletions have caught up: no due deletion has waited longer than ${threshold} (${backlog.due} due now).`,
        ...this.changeBase(now),
      });
      if (delivery === null) return;
      this.logger.info(
        { alert: DELETION_LAG_ALERT, due: backlog.due },
        'alert resolved: deletions have caught up',
      );
      await this.deliver(delivery);
    }
  }

  private changeBase(now: Date) {
    return { recipients: this.options.adminIds, now, leaseMs: DELIVERY_LEASE_MS };
  }

  private async deliver(delivery: Delivery): Promise<void> {
    if (delivery.recipients.length === 0) {
      this.logger.warn(
        { alert: delivery.key },
        'no ADMIN_IDS configured: nobody can be told about this alert in Telegram',
      );
    }
    const outcome = await notifyAdmins(this.options.api, delivery.recipients, delivery.message, this.logger, {
      alert: delivery.key,
    });
    await this.state.finishDelivery(delivery, [...outcome.delivered, ...outcome.refused]);
  }
}

function isoTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "45 s", "27 min", "2 h 5 min", "3 d 4 h": precise enough for a human deciding whether to act. */
export function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}
