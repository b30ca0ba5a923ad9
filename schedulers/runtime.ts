import { randomUUID } from 'node:crypto';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { JobControl, JobOverview, ScheduleChange, StartResult } from '../bot/job-control.js';
import type { RunDoc } from '../db/collections.js';
import type { JobControlState, JobControlsRepository } from '../db/repositories/job-controls.js';
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
  /** How often job_controls is read for schedules changed on other instances (default 5 s). */
  controlsRefreshMs?: number;
  /**
   * What else is wrong with `expression` as `job`'s schedule, beyond being a valid cron expression
   * (a deleter too sparse for Telegram's 48 hours, say); undefined when it is acceptable.
   */
  scheduleRule?: (job: string, expression: string) => Promise<string | undefined>;
  /** Called whenever a job's schedule takes effect here: at start-up and on every change. */
  onScheduleApplied?: (job: string, expression: string) => void;
}

export interface RunEvent extends RunOutcome {}

export type JobStats = JobOverview;

const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 2_000, maxDelayMs: 60_000 };
const DEFAULT_CONTROLS_REFRESH_MS = 5_000;
/** Longer than any sensible cron expression; keeps pasted garbage out of logs and the database. */
const MAX_EXPRESSION_LENGTH = 120;

type Claimed = { run: RunDoc } | { skipped: RunOutcome };

/**
 * Runs the maintenance jobs on node-cron, with MongoDB as the shared memory between instances:
 * one run per scheduled slot across all instances, never two runs of a job at once anywhere,
 * catch-up after downtime, retries, run history, and a pause switch and run-time schedules that
 * survive restarts.
 *
 * A job's schedule from the environment is its default; a schedule stored in job_controls
 * replaces it. Every instance reads job_controls every `controlsRefreshMs` and moves a job whose
 * stored schedule changed onto the new one; runs in flight carry on, and the claims keep a slot
 * from running twice while instances disagree for those few seconds.
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
  /** Each job's schedule in effect here: its default until job_controls says otherwise. */
  private readonly applied = new Map<string, string>();
  /** When each job's schedule last changed at run time, from job_controls (for catch-up). */
  private readonly scheduleChangedAt = new Map<string, Date>();
  /** Stored schedules refused here, so that each is logged once and not judged again. */
  private readonly refused = new Map<string, string>();
  /** Bumped by every local schedule change, so that a refresh that read before it is discarded. */
  private scheduleVersion = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private following = false;
  private refreshFailing = false;

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
      this.applied.set(job.name, job.schedule);
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
    // Schedules changed while the bot ran decide the timers, nextRun and what catch-up looks for.
    const wasFollowing = this.following;
    if (!wasFollowing) await this.loadSchedules();
    for (const job of this.jobs.values()) {
      const schedule = this.scheduleOf(job);
      this.tasks.set(job.name, this.schedule(job));
      const next = nextSlot(schedule, this.options.timezone, this.clock());
      const changed = schedule === job.schedule ? {} : { defaultSchedule: job.schedule };
      this.logger.info(
        { job: job.name, schedule, ...changed, nextRun: next.toISOString() },
        `${job.name}: ${describeSchedule(schedule, this.options.timezone)}${schedule === job.schedule ? '' : ' (set at run time)'}`,
      );
    }
    if (!wasFollowing) {
      this.following = true;
      this.scheduleRefresh();
    }
    await Promise.all([...this.jobs.values()].map((job) => this.catchUp(job)));
  }

  /**
   * For an instance that runs no schedules (SCHEDULERS_ENABLED=false): keeps track of the jobs'
   * schedules all the same, so that what depends on them (the deletion limits) follows changes.
   */
  async followSchedules(): Promise<void> {
    if (this.following || this.state !== 'new') return;
    await this.loadSchedules();
    this.following = true;
    this.scheduleRefresh();
  }

  /**
   * Reads the schedules stored in job_controls once and makes them this runtime's (the hook is
   * called for every job). Unreadable (database down): the current ones stay, with a warning.
   */
  async loadSchedules(): Promise<void> {
    const wanted = await this.wantedSchedules();
    for (const job of this.jobs.values()) {
      const schedule = wanted?.get(job.name) ?? this.scheduleOf(job);
      this.applied.set(job.name, schedule);
      this.notifyApplied(job.name, schedule);
    }
  }

  /** Stops new runs, aborts running ones and waits for them up to `timeoutMs`. Safe to call twice. */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopPromise ??= this.doStop(options.timeoutMs ?? 10_000);
    return this.stopPromise;
  }

  /** Claims and runs a job now, whatever its schedule; skipped if it is running anywhere. */
  async runNow(name: string, options: { requestedBy?: string } = {}): Promise<RunOutcome> {
    const claimed = await this.claimManual(name, options);
    return 'run' in claimed ? claimed.run : claimed.skipped;
  }

  /** Claims a job and starts it; resolves once the claim is decided, not when the run ends. */
  async startRun(name: string, options: { requestedBy?: string } = {}): Promise<StartResult> {
    this.requireJob(name);
    // A caller such as the API answers "not now" rather than failing: another instance can run it.
    if (this.state === 'stopping' || this.state === 'stopped') {
      return { status: 'busy', reason: 'this instance is stopping; try again on another instance' };
    }
    const claimed = await this.claimManual(name, options);
    if ('skipped' in claimed) {
      return { status: 'busy', reason: claimed.skipped.reason ?? 'another run was in progress' };
    }
    return { status: 'started', runId: claimed.runId, finished: claimed.run };
  }

  private async claimManual(
    name: string,
    options: { requestedBy?: string },
  ): Promise<{ run: Promise<RunOutcome>; runId: string } | { skipped: RunOutcome }> {
    const job = this.requireJob(name);
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new Error('the scheduler is stopping; no new runs');
    }
    const claimed = await this.claimFor(job, {
      key: `${job.name}:manual:${randomUUID()}`,
      job: job.name,
      slot: null,
      trigger: 'manual',
      now: this.clock(),
      ...(options.requestedBy === undefined ? {} : { requestedBy: options.requestedBy }),
    });
    if ('skipped' in claimed) return claimed;
    return { run: this.execute(job, claimed.run), runId: claimed.run._id };
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

  async pauseAll(by?: string): Promise<void> {
    const now = this.clock();
    for (const name of this.jobs.keys()) await this.controls.setPaused(name, true, now, by);
    this.logger.info({ jobs: this.jobNames, by }, 'every job paused');
  }

  async resumeAll(by?: string): Promise<void> {
    const now = this.clock();
    for (const name of this.jobs.keys()) await this.controls.setPaused(name, false, now, by);
    this.logger.info({ jobs: this.jobNames, by }, 'every job resumed');
  }

  async checkSchedule(name: string, expression: string): Promise<string | undefined> {
    this.requireJob(name);
    return this.problemWith(name, normalizeExpression(expression));
  }

  async setSchedule(name: string, expression: string | null, by?: string): Promise<ScheduleChange> {
    const job = this.requireJob(name);
    const wanted = expression === null ? job.schedule : normalizeExpression(expression);
    // Going back to the default is judged too: a deleter's default may no longer leave room for
    // the delete time an admin set under a denser schedule.
    const problem = await this.problemWith(name, wanted);
    if (problem !== undefined) return { ok: false, problem };
    const previous = this.scheduleOf(job);
    const now = this.clock();
    await this.controls.setSchedule(name, expression === null ? null : wanted, now, by);
    this.scheduleVersion += 1;
    this.scheduleChangedAt.set(name, now);
    this.refused.delete(name);
    this.logger.info(
      { job: name, schedule: wanted, previous, by, isDefault: expression === null },
      `${name}: schedule ${expression === null ? 'back to the default' : 'set'}, ${describeSchedule(wanted, this.options.timezone)}`,
    );
    this.apply(job, wanted);
    return { ok: true, schedule: wanted, previous, isDefault: expression === null };
  }

  async stats(): Promise<JobStats[]> {
    const now = this.clock();
    const controls = await this.controls.all();
    const since = new Date(now.getTime() - 24 * 3_600_000);
    return Promise.all(
      [...this.jobs.values()].map(async (job): Promise<JobStats> => {
        const [running, last, counts, last24h] = await Promise.all([
          this.store.runningRun(job.name),
          this.store.lastFinishedRun(job.name),
          this.store.statusCounts(job.name),
          this.store.outcomesSince(job.name, since),
        ]);
        const control = controls.get(job.name);
        const schedule = this.scheduleOf(job);
        const stored = control?.schedule;
        return jobOverview({
          job,
          schedule,
          timezone: this.options.timezone,
          paused: control?.paused === true,
          running,
          last,
          counts,
          last24h,
          // The stored schedule, once it is the one in effect here.
          scheduleOverride:
            stored && stored.expression === schedule
              ? { changedAt: stored.changedAt, changedBy: stored.changedBy }
              : null,
          nextRun: this.state === 'started' ? nextSlot(schedule, this.options.timezone, now) : null,
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

  private scheduleOf(job: JobDefinition): string {
    return this.applied.get(job.name) ?? job.schedule;
  }

  /** The environment's rules for a schedule, then the wiring's (scheduleRule). */
  private async problemWith(name: string, expression: string): Promise<string | undefined> {
    if (expression === '') return 'the schedule is empty; give a cron expression of 5 or 6 fields';
    if (expression.length > MAX_EXPRESSION_LENGTH) {
      return `the schedule is longer than ${MAX_EXPRESSION_LENGTH} characters; give a cron expression of 5 or 6 fields`;
    }
    const problem = checkCronExpression(expression);
    if (problem !== undefined) return `"${expression}" is not a valid cron expression: ${problem}`;
    return this.options.scheduleRule?.(name, expression);
  }

  /**
   * What job_controls says each job's schedule should be here; undefined when it cannot be read.
   * A stored schedule this instance refuses (one edited by hand in the database) is logged once
   * and leaves the job on the schedule it has.
   */
  private async wantedSchedules(): Promise<Map<string, string> | undefined> {
    let controls: Map<string, JobControlState>;
    try {
      controls = await this.controls.all();
    } catch (error) {
      if (!this.refreshFailing) {
        this.logger.warn(
          { err: error },
          'could not read the job controls; schedules stay as they are and are read again shortly',
        );
      }
      this.refreshFailing = true;
      return undefined;
    }
    if (this.refreshFailing) this.logger.info('the job controls can be read again');
    this.refreshFailing = false;
    const wanted = new Map<string, string>();
    for (const job of this.jobs.values()) {
      const control = controls.get(job.name);
      if (control?.scheduleChangedAt) this.scheduleChangedAt.set(job.name, control.scheduleChangedAt);
      const stored = control?.schedule?.expression;
      if (stored === undefined || stored === this.scheduleOf(job)) {
        wanted.set(job.name, stored ?? job.schedule);
        if (stored === undefined) this.refused.delete(job.name);
        continue;
      }
      if (this.refused.get(job.name) === stored) continue;
      let problem: string | undefined;
      try {
        problem = await this.problemWith(job.name, stored);
      } catch (error) {
        this.logger.warn({ err: error, job: job.name }, `${job.name}: could not check its stored schedule`);
        continue;
      }
      if (problem !== undefined) {
        this.refused.set(job.name, stored);
        this.logger.error(
          { job: job.name, stored, schedule: this.scheduleOf(job) },
          `${job.name}: the schedule stored in job_controls is not applied: ${problem}`,
        );
        continue;
      }
      wanted.set(job.name, stored);
    }
    return wanted;
  }

  /** Reads job_controls every few seconds; a failed read is tried again at the next tick. */
  private scheduleRefresh(): void {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.refreshTimer = setTimeout(() => {
      void this.refreshSchedules()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'schedule refresh failed'))
        .finally(() => this.scheduleRefresh());
    }, this.options.controlsRefreshMs ?? DEFAULT_CONTROLS_REFRESH_MS);
    this.refreshTimer.unref();
  }

  private async refreshSchedules(): Promise<void> {
    const version = this.scheduleVersion;
    const wanted = await this.wantedSchedules();
    // A change made here meanwhile is newer than what was read.
    if (!wanted || version !== this.scheduleVersion) return;
    if (this.state === 'stopping' || this.state === 'stopped') return;
    for (const job of this.jobs.values()) {
      const schedule = wanted.get(job.name);
      const previous = this.scheduleOf(job);
      if (schedule === undefined || schedule === previous) continue;
      this.logger.info(
        { job: job.name, previous, schedule, isDefault: schedule === job.schedule },
        `${job.name}: schedule changed on another instance, now ${describeSchedule(schedule, this.options.timezone)}`,
      );
      this.apply(job, schedule);
    }
  }

  /**
   * Puts a job on `schedule` here: its node-cron task is replaced (a run in flight goes on; the
   * claims keep a slot from running twice) and the hook hears of it.
   */
  private apply(job: JobDefinition, schedule: string): void {
    this.applied.set(job.name, schedule);
    const task = this.tasks.get(job.name);
    if (task && this.state === 'started') {
      void task.destroy();
      this.tasks.set(job.name, this.schedule(job));
    }
    this.notifyApplied(job.name, schedule);
  }

  private notifyApplied(name: string, schedule: string): void {
    try {
      this.options.onScheduleApplied?.(name, schedule);
    } catch (error) {
      this.logger.error({ err: error, job: name }, 'a schedule listener failed');
    }
  }

  private schedule(job: JobDefinition): ScheduledTask {
    const logger = this.logger.child({ job: job.name });
    return startCronTask(job.name, this.scheduleOf(job), this.options.timezone, logger, {
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
    const claimed = await this.claimFor(job, input);
    return 'run' in claimed ? this.execute(job, claimed.run) : claimed.skipped;
  }

  /** The claim, or the skipped outcome (reported to the listeners when it was recorded). */
  private async claimFor(job: JobDefinition, input: ClaimInput): Promise<Claimed> {
    const claim = await this.store.claim(input);
    if (claim.outcome === 'claimed') return { run: claim.run };
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
    return { skipped: outcome };
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
        schedule: this.scheduleOf(job),
        timezone: this.options.timezone,
        now,
        graceMs: this.catchUpGraceMs,
        scheduledSince: this.scheduleChangedAt.get(job.name) ?? null,
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
    clearTimeout(this.refreshTimer);
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

/** As the environment's schedules are read: no blanks around, single spaces between fields. */
function normalizeExpression(expression: string): string {
  return expression.trim().replace(/\s+/g, ' ');
}

export function slotKey(job: string, slot: Date): string {
  return `${job}:${slot.toISOString()}`;
}
