import { type Collection, MongoServerError } from 'mongodb';
import type { FinishedRunDoc, RunCounts, RunDoc, RunStatus, RunTrigger } from '../collections.js';
import { insertWithServerTime, literally, olderThanServerNow, SERVER_NOW } from '../server-time.js';

/**
 * Claims double as run history. A claim's `_id` is its slot key (`job:2026-03-10T12:00:00.000Z`),
 * so the unique `_id` index lets exactly one instance run a scheduled slot, and keeping claims
 * after the run means a late instance can never run that slot again. A partial unique index on
 * `job` over claims in state `running` keeps two runs of one job from overlapping anywhere.
 *
 * `started_at`, `heartbeat_at` and `finished_at` are the database server's time (`$$NOW`), and a
 * claim is judged dead against that same clock, so instances whose clocks differ never declare a
 * live run abandoned.
 */

export type ClaimOutcome =
  | { outcome: 'claimed'; run: RunDoc }
  | { outcome: 'taken' }
  | { outcome: 'busy'; holder: RunDoc | null; skipped: RunDoc | null };

export interface ClaimInput {
  key: string;
  job: string;
  slot: Date | null;
  trigger: RunTrigger;
  requestedBy?: string;
  now: Date;
}

export interface FinishInput {
  status: Exclude<RunStatus, 'running' | 'skipped'>;
  attempts: number;
  result: RunCounts | null;
  error: string | null;
}

const DUPLICATE_KEY = 11000;

/** The run history as everyone reads it: stats, /tasks, catch-up, alerts. */
export class RunHistory {
  constructor(readonly runs: Collection<RunDoc>) {}

  hasClaim(key: string): Promise<boolean> {
    return this.runs.countDocuments({ _id: key }, { limit: 1 }).then((n) => n > 0);
  }

  async hasHistory(job: string): Promise<boolean> {
    return (await this.runs.countDocuments({ job }, { limit: 1 })) > 0;
  }

  latestSlotClaim(job: string): Promise<RunDoc | null> {
    return this.runs.findOne({ job, slot: { $ne: null } }, { sort: { slot: -1 } });
  }

  lastFinishedRun(job: string): Promise<FinishedRunDoc | null> {
    return this.runs.findOne(
      { job, status: { $in: ['succeeded', 'failed', 'abandoned'] } },
      { sort: { started_at: -1 } },
    ) as Promise<FinishedRunDoc | null>;
  }

  runningRun(job: string): Promise<RunDoc | null> {
    return this.runs.findOne({ job, status: 'running' });
  }

  async statusCounts(job: string): Promise<Partial<Record<RunStatus, number>>> {
    const rows = await this.runs
      .aggregate<{ _id: RunStatus; n: number }>([
        { $match: { job } },
        { $group: { _id: '$status', n: { $sum: 1 } } },
      ])
      .toArray();
    return Object.fromEntries(rows.map((row) => [row._id, row.n]));
  }

  /** The job's succeeded and failed runs among those started at or after `since` (job_started_at). */
  async outcomesSince(job: string, since: Date): Promise<{ succeeded: number; failed: number }> {
    const rows = await this.runs
      .aggregate<{ _id: 'succeeded' | 'failed'; n: number }>([
        { $match: { job, started_at: { $gte: since }, status: { $in: ['succeeded', 'failed'] } } },
        { $group: { _id: '$status', n: { $sum: 1 } } },
      ])
      .toArray();
    const counts = { succeeded: 0, failed: 0 };
    for (const row of rows) counts[row._id] = row.n;
    return counts;
  }

  /** The latest runs of a job that ended (succeeded or failed), newest first. */
  recentOutcomes(
    job: string,
    limit: number,
  ): Promise<Pick<RunDoc, '_id' | 'status' | 'error' | 'started_at' | 'finished_at'>[]> {
    return this.runs
      .find(
        { job, status: { $in: ['succeeded', 'failed'] } },
        {
          sort: { started_at: -1 },
          limit,
          projection: { _id: 1, status: 1, error: 1, started_at: 1, finished_at: 1 },
        },
      )
      .toArray();
  }
}

/**
 * One instance's claims: taking a slot, keeping it alive, writing its outcome. Claims double as
 * run history (see RunHistory).
 */
export class RunsRepository extends RunHistory {
  /** Finishes that could not be written (database down); retried before the next claim. */
  private readonly unsavedFinishes = new Map<string, FinishInput>();

  constructor(
    runs: Collection<RunDoc>,
    private readonly options: { instanceId: string; historyMs: number; leaseMs: number },
  ) {
    super(runs);
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** A claim without heartbeat for this long (server time) is declared abandoned. */
  get leaseMs(): number {
    return this.options.leaseMs;
  }

  async claim(input: ClaimInput): Promise<ClaimOutcome> {
    await this.flushUnsavedFinishes();
    await this.abandonStale(input.job);
    const run: RunDoc = {
      _id: input.key,
      job: input.job,
      slot: input.slot,
      trigger: input.trigger,
      instance: this.options.instanceId,
      status: 'running',
      started_at: input.now,
      finished_at: null,
      heartbeat_at: input.now,
      attempts: 0,
      result: null,
      error: null,
      expire_at: new Date(input.now.getTime() + this.options.historyMs),
      ...(input.requestedBy === undefined ? {} : { requested_by: input.requestedBy }),
    };
    try {
      const inserted = await insertWithServerTime(this.runs, run, ['started_at', 'heartbeat_at'], 'job');
      return inserted ? { outcome: 'claimed', run } : { outcome: 'taken' };
    } catch (error) {
      const violated = duplicateKeyIndex(error);
      if (violated === '_id') return { outcome: 'taken' };
      if (violated !== 'job') throw error;
    }

    // Another run of this job is in progress somewhere: record this slot as skipped, so the
    // history says why it did not run and no other instance runs it either.
    const holder = await this.runs.findOne({ job: input.job, status: 'running' });
    const skipped: RunDoc = {
      ...run,
      status: 'skipped',
      finished_at: input.now,
      heartbeat_at: null,
      reason: holder
        ? `${holder._id} was still running on ${holder.instance}`
        : 'another run was in progress',
    };
    return { outcome: 'busy', holder, skipped: (await this.insertSkipped(skipped)) ? skipped : null };
  }

  /** Records a slot that was not run at all (e.g. local overlap), unless someone claimed it. */
  async recordSkipped(input: ClaimInput & { reason: string }): Promise<RunDoc | null> {
    const skipped: RunDoc = {
      _id: input.key,
      job: input.job,
      slot: input.slot,
      trigger: input.trigger,
      instance: this.options.instanceId,
      status: 'skipped',
      started_at: input.now,
      finished_at: input.now,
      heartbeat_at: null,
      attempts: 0,
      result: null,
      error: null,
      reason: input.reason,
      expire_at: new Date(input.now.getTime() + this.options.historyMs),
    };
    return (await this.insertSkipped(skipped)) ? skipped : null;
  }

  private async insertSkipped(skipped: RunDoc): Promise<boolean> {
    try {
      return await insertWithServerTime(this.runs, skipped, ['started_at', 'finished_at'], 'job');
    } catch (error) {
      if (duplicateKeyIndex(error) === '_id') return false;
      throw error;
    }
  }

  /** Keeps a claim alive; false means it is no longer ours (it was declared abandoned). */
  async heartbeat(runId: string): Promise<boolean> {
    const result = await this.runs.updateOne(
      { _id: runId, status: 'running', instance: this.options.instanceId },
      [{ $set: { heartbeat_at: SERVER_NOW } }],
    );
    return result.matchedCount === 1;
  }

  async finish(runId: string, input: FinishInput): Promise<void> {
    try {
      await this.writeFinish(runId, input);
      this.unsavedFinishes.delete(runId);
    } catch (error) {
      this.unsavedFinishes.set(runId, input);
      throw error;
    }
  }

  async flushUnsavedFinishes(): Promise<void> {
    for (const [runId, input] of [...this.unsavedFinishes]) {
      await this.writeFinish(runId, input);
      this.unsavedFinishes.delete(runId);
    }
  }

  private async writeFinish(runId: string, input: FinishInput): Promise<void> {
    // A claim declared abandoned while we were cut off still gets its true outcome.
    await this.runs.updateOne(
      { _id: runId, instance: this.options.instanceId, status: { $in: ['running', 'abandoned'] } },
      [
        {
          $set: {
            ...literally({
              status: input.status,
              heartbeat_at: null,
              attempts: input.attempts,
              result: input.result,
              error: input.error,
            }),
            finished_at: SERVER_NOW,
          },
        },
      ],
    );
  }

  /** Claims whose heartbeat stopped longer than the lease ago (server time) belong to a dead process. */
  async abandonStale(job: string): Promise<number> {
    const leaseSeconds = Math.round(this.options.leaseMs / 1000);
    const result = await this.runs.updateMany(
      { job, status: 'running', ...olderThanServerNow('heartbeat_at', this.options.leaseMs) },
      [
        {
          $set: {
            status: 'abandoned',
            finished_at: SERVER_NOW,
            heartbeat_at: null,
            error: {
              $literal: `no heartbeat for over ${leaseSeconds} s (the lease); the process running it is gone`,
            },
          },
        },
      ],
    );
    return result.modifiedCount;
  }
}

/** Which unique index a duplicate-key error came from: `_id`, `job`, or undefined for others. */
function duplicateKeyIndex(error: unknown): '_id' | 'job' | 'other' | undefined {
  if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY) return undefined;
  const pattern = (error as MongoServerError & { keyPattern?: Record<string, unknown> }).keyPattern;
  if (pattern) {
    if ('_id' in pattern) return '_id';
    if ('job' in pattern) return 'job';
    return 'other';
  }
  if (/index: _id_ /.test(error.message)) return '_id';
  if (/index: one_running_per_job /.test(error.message)) return 'job';
  return 'other';
}
