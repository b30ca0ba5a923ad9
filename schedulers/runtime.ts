import { randomUUID } from 'node:crypto';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { JobControl, JobOverview, ScheduleChange, StartResult } from '../bot/job-control.js';
import type { RunDoc } from '../db/collections.js';
import type { JobControlsRepository } from '../db/repositories/job-controls.js';
import type { ClaimInput, RunsRepository } from '../db/repositories/runs.js';
import { planCatchUp } from './catch-up.js';
import { checkCronExpression, describeSchedule, nextSlot } from './cron-schedule.js';
import { startCronTask } from './cron-task.js';
import {
  type JobContext,
  type JobDefinition,
  type JobResult,
  type RetryPolicy,
  UnknownJobError,
} from './job.js';
import { jobOverview } from './job-stats.js';
import { executeRun, type RunOutcome } from './run-executor.js';

export interface SchedulerRuntimeOptions {
  /** This instance's claims (its instance id and lease are the repository's). */
  runs: RunsRepository;
  /** The pause switch every instance shares. */
  controls: JobControlsRepository;
  jobs: readonly JobDefinition[];
  timezone: string;
  logger: Logger;
  /** Injectable "now" for claims, catch-up decisions and job contexts. */
  clock?: () => Date;
  /** Missed slots older than this are not caught up. */
  catchUpGraceMs?: number;
  /** Defaults for jobs that do not set their own. */
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** After an abort, how long a job may take to wind down before that is logged (it is still awaited). */
  abortGraceMs?: number;
}

export interface RunEvent extends RunOutcome {}

export type JobStats = JobOverview;

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 2_000, maxDelayMs: 60_000 };

/**
 * Runs the maintenance jobs on node-cron, with MongoDB as the shared memory between instances:
 * one run per scheduled slot across all instances, never two runs of a job at once anywhere,
 * catch-up after downtime, retries, run history and a pause switch that survives restarts.
 */
export class SchedulerRuntime implements JobControl {
  readonly instanceId: string;
  private readonly jobs: ReadonlyMap<string, JobDefinition>;
  private readonly store: RunsRepository;
  private readonly controls: JobControlsRepository;
  private readonly clock: () => Date;
  private readonly logger: Logger;
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly inFlight = new Map<
    string,
    { promise: Promise<RunOutcome>; controller: AbortController }
  >();
  /** Catch-up runs between their start-up decision and their claim. */
  private readonly pendingCatchUps = new Set<Promise<unknown>>();
  /** Claims made by node-cron's coordinator call, handed to the task function that follows it. */
  private readonly pendingClaims = new Map<string, RunDoc>();
  /** The latest slot node-cron reported missed per job, run once the current tick is over. */
  private readonly lateSlots = new Map<string, Date>();
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private readonly stopController = new AbortController();
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly options: SchedulerRuntimeOptions) {
    this.instanceId = options.runs.instanceId;
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger.child({ component: 'scheduler', instance: this.instanceId });
    const jobs = new Map<string, JobDefinition>();
    for (const job of options.jobs) {
      if (jobs.has(job.name)) throw new Error(`job "${job.name}" is registered twice`);
      const problem = checkCronExpression(job.schedule);
      if (problem) throw new Error(`job "${job.name}" has an invalid schedule "${job.schedule}": ${problem}`);
      jobs.set(job.name, job);
    }
    this.jobs = jobs;
    this.store = options.runs;
    this.controls = options.controls;
  }

  get jobNames(): string[] {
    return [...this.jobs.keys()];
  }

  get isStarted(): boolean {
    return this.state === 'started';
  }

  /** Called after every run that ends, including skipped ones; for metrics and alerts. */
  onRunFinished(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`the scheduler cannot start: it is ${this.state}`);
    this.state = 'started';
    for (const job of this.jobs.values()) {
      this.tasks.set(job.name, this.schedule(job));
      const next = nextSlot(job.schedule, this.options.timezone, this.clock());
      this.logger.info(
        { job: job.name, schedule: job.schedule, nextRun: next.toISOString() },
        `${job.name}: ${describeSchedule(job.schedule, this.options.timezone)}`,
      );
    }
    await Promise.all([...this.jobs.values()].map((job) => this.catchUp(job)));
  }

  /** Stops new runs, aborts running ones and waits for them up to `timeoutMs`. Safe to call twice. */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopPromise ??= this.doStop(options.timeoutMs ?? 10_000);
    return this.stopPromise;
  }

  /** Claims and runs a job now, whatever its schedule; skipped if it is running anywhere. */
  async runNow(name: string, options: { requestedBy?: string } = {}): Promise<RunOutcome> {
    const job = this.requireJob(name);
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new Error('the scheduler is stopping; no new runs');
    }
    const now = this.clock();
    return this.claimAndRun(job, {
      key: `${job.name}:manual:${randomUUID()}`,
      job: job.name,
      slot: null,
      trigger: 'manual',
      now,
      ...(options.requestedBy === undefined ? {} : { requestedBy: options.requestedBy }),
    });
  }

  /** Runs the job's logic in dry-run mode: nothing is claimed or changed. */
  async dryRun(name: string): Promise<JobResult> {
    const job = this.requireJob(name);
    const ctx: JobContext = {
      job: job.name,
      runId: `${job.name}:dry-run`,
      trigger: 'manual',
      slot: null,
      now: this.clock(),
      clock: this.clock,
      signal: this.stopController.signal,
      logger: this.logger.child({ job: job.name, dryRun: true }),
      attempt: 1,
      dryRun: true,
      confirmClaim: async () => {},
    };
    return job.run(ctx);
  }

  async pause(name: string, by?: string): Promise<void> {
    this.requireJob(name);
    await this.controls.setPaused(name, true, this.clock(), by);
    this.logger.info({ job: name, by }, `${name} paused`);
  }

  async resume(name: string, by?: string): Promise<void> {
    this.requireJob(name);
    await this.controls.setPaused(name, false, this.clock(), by);
    this.logger.info({ job: name, by }, `${name} resumed`);
  }

  // Placeholders until run-time schedules land (issue #15); replaced in the same issue.
  async startRun(_name: string): Promise<StartResult> {
    throw new Error('not implemented yet');
  }

  async pauseAll(): Promise<void> {
    throw new Error('not implemented yet');
  }

  async resumeAll(): Promise<void> {
    throw new Error('not implemented yet');
  }

  async checkSchedule(): Promise<string | undefined> {
    throw new Error('not implemented yet');
  }

  async setSchedule(): Promise<ScheduleChange> {
    throw new Error('not implemented yet');
  }

  async stats(): Promise<JobStats[]> {
    const paused = await this.controls.pausedJobs();
    const now = this.clock();
    return Promise.all(
      [...this.jobs.values()].map(async (job): Promise<JobStats> => {
        const [running, last, counts] = await Promise.all([
          this.store.runningRun(job.name),
          this.store.lastFinishedRun(job.name),
          this.store.statusCounts(job.name),
        ]);
        return jobOverview({
          job,
          timezone: this.options.timezone,
          paused: paused.has(job.name),
          running,
          last,
          counts,
          nextRun: this.state === 'started' ? nextSlot(job.schedule, this.options.timezone, now) : null,
        });
      }),
    );
  }

  /** Resolves when no run started by this process is in flight (for tests and shutdown). */
  async waitForIdle(): Promise<void> {
    while (this.inFlight.size > 0 || this.pendingCatchUps.size > 0) {
      await Promise.allSettled([
        ...this.pendingCatchUps,
        ...[...this.inFlight.values()].map((entry) => entry.promise),
      ]);
    }
  }

  private requireJob(name: string): JobDefinition {
    const job = this.jobs.get(name);
    if (!job) throw new UnknownJobError(name, this.jobNames);
    return job;
  }

  private schedule(job: JobDefinition): ScheduledTask {
    const logger = this.logger.child({ job: job.name });
    return startCronTask(job.name, job.schedule, this.options.timezone, logger, {
      claim: (key) => this.claimScheduledSlot(job, key),
      run: (slot) => this.runScheduledSlot(job, slot),
      overlapped: (slot) => {
        logger.warn(
          { slot: slot.toISOString() },
          `${job.name}: tick skipped, the previous run is still going`,
        );
        this.recordLocalSkip(job, slot, 'the previous run in this process was still going');
      },
      missed: (slot) => this.runLate(job, slot),
    });
  }

  /** node-cron's distributed hook: the insert of the claim decides which instance runs the slot. */
  private async claimScheduledSlot(job: JobDefinition, key: string): Promise<boolean> {
    if (this.state !== 'started') return false;
    if (await this.controls.isPaused(job.name)) {
      this.logger.debug({ job: job.name }, `${job.name} is paused; slot not run`);
      return false;
    }
    const slot = new Date(key.slice(job.name.length + 1));
    const claim = await this.store.claim({
      key,
      job: job.name,
      slot,
      trigger: 'scheduled',
      now: this.clock(),
    });
    if (claim.outcome === 'claimed') {
      this.pendingClaims.set(key, claim.run);
      return true;
    }
    if (claim.outcome === 'busy' && claim.skipped) this.emitSkipped(claim.skipped);
    return false;
  }

  private async runScheduledSlot(job: JobDefinition, slot: Date): Promise<void> {
    const key = slotKey(job.name, slot);
    const run = this.pendingClaims.get(key);
    this.pendingClaims.delete(key);
    if (!run) {
      this.logger.error({ job: job.name, key }, 'internal error: scheduled run without a claim');
      return;
    }
    await this.execute(job, run);
  }

  private async claimAndRun(job: JobDefinition, input: ClaimInput): Promise<RunOutcome> {
    const claim = await this.store.claim(input);
    if (claim.outcome === 'claimed') return this.execute(job, claim.run);
    const reason =
      claim.outcome === 'taken'
        ? 'this slot was already claimed'
        : (claim.skipped?.reason ?? claim.holder?._id ?? 'another run was in progress');
    this.logger.info({ job: job.name, trigger: input.trigger, reason }, `${job.name}: skipped, ${reason}`);
    const outcome: RunOutcome = {
      runId: input.key,
      job: job.name,
      trigger: input.trigger,
      status: 'skipped',
      attempts: 0,
      durationMs: 0,
      result: null,
      error: null,
      reason,
    };
    if (claim.outcome === 'busy' && claim.skipped) this.emit(outcome);
    return outcome;
  }

  private execute(job: JobDefinition, run: RunDoc): Promise<RunOutcome> {
    const controller = new AbortController();
    const stopSignal = AbortSignal.any([this.stopController.signal, controller.signal]);
    const promise = executeRun({
      job,
      run,
      store: this.store,
      logger: this.logger,
      clock: this.clock,
      retry: { ...DEFAULT_RETRY, ...this.options.retry, ...job.retry },
      timeoutMs: job.timeoutMs ?? this.options.timeoutMs ?? 30 * 60_000,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 10_000,
      leaseMs: this.store.leaseMs,
      abortGraceMs: this.options.abortGraceMs ?? 5_000,
      stopSignal,
    }).then((outcome) => {
      this.emit(outcome);
      return outcome;
    });
    this.inFlight.set(run._id, { promise, controller });
    void promise.finally(() => this.inFlight.delete(run._id));
    return promise;
  }

  private async catchUp(job: JobDefinition): Promise<void> {
    if (job.catchUp === false) return;
    try {
      if (await this.controls.isPaused(job.name)) return;
      const now = this.clock();
      const plan = await planCatchUp({
        job: job.name,
        schedule: job.schedule,
        timezone: this.options.timezone,
        now,
        graceMs: this.catchUpGraceMs,
        store: this.store,
      });
      if (plan.action === 'none') {
        if (plan.log) this.logger.info({ job: job.name }, `${job.name}: no catch-up, ${plan.reason}`);
        return;
      }
      this.logger.info(
        { job: job.name, slot: plan.slot.toISOString(), missedSlots: plan.missedSlots },
        `${job.name}: missed ${plan.missedSlots} scheduled run(s) while down; catching up once`,
      );
      this.runInBackground(job, plan.slot, now);
    } catch (error) {
      this.logger.error({ err: error, job: job.name }, `${job.name}: catch-up check failed`);
    }
  }

  /**
   * node-cron drops a slot whose tick came more than a second late (event loop blocked, process
   * stopped, VM paused) and reports it missed. The slot is still claimed and run now, within the
   * catch-up grace; several missed slots of one job collapse into its latest.
   */
  private runLate(job: JobDefinition, slot: Date): void {
    const known = this.lateSlots.get(job.name);
    if (known && known.getTime() >= slot.getTime()) return;
    this.lateSlots.set(job.name, slot);
    if (known) return;
    setImmediate(() => {
      const latest = this.lateSlots.get(job.name) ?? slot;
      this.lateSlots.delete(job.name);
      void this.claimLate(job, latest);
    });
  }

  private async claimLate(job: JobDefinition, slot: Date): Promise<void> {
    if (this.state !== 'started') return;
    const now = this.clock();
    const lateMs = now.getTime() - slot.getTime();
    const fields = { job: job.name, slot: slot.toISOString(), lateMs };
    if (lateMs > this.catchUpGraceMs) {
      this.logger.warn(fields, `${job.name}: slot reached too late to run (beyond the catch-up window)`);
      return;
    }
    try {
      if (await this.controls.isPaused(job.name)) return;
    } catch (error) {
      this.logger.error({ ...fields, err: error }, `${job.name}: could not claim the late slot`);
      return;
    }
    this.logger.warn(fields, `${job.name}: slot reached late (process stalled?); running it now`);
    this.runInBackground(job, slot, now);
  }

  /** Claims a missed slot and runs it without holding up the caller. */
  private runInBackground(job: JobDefinition, slot: Date, now: Date): void {
    const pending = this.claimAndRun(job, {
      key: slotKey(job.name, slot),
      job: job.name,
      slot,
      trigger: 'catch-up',
      now,
    })
      .catch((error: unknown) =>
        this.logger.error({ err: error, job: job.name }, 'catch-up run failed to start'),
      )
      .finally(() => this.pendingCatchUps.delete(pending));
    this.pendingCatchUps.add(pending);
  }

  private get catchUpGraceMs(): number {
    return this.options.catchUpGraceMs ?? 24 * 3_600_000;
  }

  private recordLocalSkip(job: JobDefinition, slot: Date, reason: string): void {
    this.store
      .recordSkipped({
        key: slotKey(job.name, slot),
        job: job.name,
        slot,
        trigger: 'scheduled',
        now: this.clock(),
        reason,
      })
      .then((skipped) => {
        if (skipped) this.emitSkipped(skipped);
      })
      .catch((error: unknown) =>
        this.logger.warn({ err: error, job: job.name }, 'could not record a skipped slot'),
      );
  }

  private emitSkipped(run: RunDoc): void {
    this.emit({
      runId: run._id,
      job: run.job,
      trigger: run.trigger,
      status: 'skipped',
      attempts: 0,
      durationMs: 0,
      result: null,
      error: null,
      ...(run.reason === undefined ? {} : { reason: run.reason }),
    });
  }

  private emit(event: RunEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error }, 'a run listener failed');
      }
    }
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const wasStarted = this.state === 'started';
    this.state = 'stopping';
    for (const task of this.tasks.values()) await task.destroy();
    this.tasks.clear();
    this.stopController.abort(new Error('the scheduler is stopping'));
    const running = [...this.inFlight.values(), ...[...this.pendingCatchUps].map((promise) => ({ promise }))];
    if (running.length > 0) {
      this.logger.info({ running: running.length, timeoutMs }, 'waiting for running jobs to stop');
      const settled = await settlesBefore(
        Promise.allSettled(running.map((entry) => entry.promise)),
        deadline,
      );
      if (!settled) {
        this.logger.warn(
          { timeoutMs },
          'some jobs did not stop in time; their claims will be released by lease',
        );
      }
    }
    await settlesBefore(
      this.store.flushUnsavedFinishes().catch(() => undefined),
      deadline,
    );
    this.state = 'stopped';
    if (wasStarted) this.logger.info('scheduler stopped');
  }
}

/** Whether `work` settled before `deadline` (epoch ms); it is not cancelled either way. */
function settlesBefore(work: Promise<unknown>, deadline: number): Promise<boolean> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.race([work.then(() => true), Promise.resolve(false)]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), left);
    timer.unref();
    void work.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export function slotKey(job: string, slot: Date): string {
  return `${job}:${slot.toISOString()}`;
}
