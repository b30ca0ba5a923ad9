import type { Collection } from 'mongodb';
import type { JobControlDoc } from '../collections.js';

/** A schedule stored for a job while the bot runs. */
export interface StoredSchedule {
  expression: string;
  changedAt: Date;
  changedBy: string | null;
}

/** One job's controls as every instance reads them. */
export interface JobControlState {
  paused: boolean;
  /** null: the job follows the environment's schedule. */
  schedule: StoredSchedule | null;
  /** When the schedule last changed at run time (set, or back to the environment's); null if never. */
  scheduleChangedAt: Date | null;
}

/**
 * Pause switches and run-time schedules: one document per job, shared by every instance. The
 * schedulers read them all at once, every few seconds, so one query answers for every job.
 */
export class JobControlsRepository {
  constructor(private readonly controls: Collection<JobControlDoc>) {}

  async isPaused(job: string): Promise<boolean> {
    const control = await this.controls.findOne({ _id: job });
    return control?.paused === true;
  }

  /** Every job's controls; a job missing from the map has none (runs, on the environment's schedule). */
  async all(): Promise<Map<string, JobControlState>> {
    const docs = await this.controls.find({}).toArray();
    return new Map(docs.map((doc) => [doc._id, stateOf(doc)]));
  }

  async setPaused(job: string, paused: boolean, now: Date, by?: string): Promise<void> {
    await this.controls.updateOne(
      { _id: job },
      { $set: { paused, changed_at: now, ...(by === undefined ? {} : { changed_by: by }) } },
      { upsert: true },
    );
  }

  /** Stores a schedule for the job; `null` removes it, so the environment's applies again. */
  async setSchedule(job: string, expression: string | null, now: Date, by?: string): Promise<void> {
    const $set: Partial<JobControlDoc> = { schedule_changed_at: now };
    const $unset: Partial<Record<keyof JobControlDoc, ''>> = {};
    if (expression === null) $unset.schedule = '';
    else $set.schedule = expression;
    // The author of the previous change must not stay attached to this one.
    if (by === undefined) $unset.schedule_changed_by = '';
    else $set.schedule_changed_by = by;
    await this.controls.updateOne(
      { _id: job },
      Object.keys($unset).length > 0 ? { $set, $unset } : { $set },
      { upsert: true },
    );
  }
}

function stateOf(doc: JobControlDoc): JobControlState {
  return {
    paused: doc.paused === true,
    // A hand-edited value of another type is passed on as text, for the schedulers to refuse.
    schedule:
      doc.schedule !== undefined && doc.schedule !== null
        ? {
            expression: String(doc.schedule),
            changedAt: doc.schedule_changed_at ?? new Date(0),
            changedBy: doc.schedule_changed_by ?? null,
          }
        : null,
    scheduleChangedAt: doc.schedule_changed_at ?? null,
  };
}
