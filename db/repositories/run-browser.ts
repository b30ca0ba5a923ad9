import type { Collection, Filter } from 'mongodb';
import type { RunDoc, RunStatus, RunTrigger } from '../collections.js';

export interface RunFilter {
  job?: string;
  status?: RunStatus;
  trigger?: RunTrigger;
  /** Runs that started before this time; with `beforeId`, the page after that run (ties on time). */
  before?: Date;
  beforeId?: string;
  /** Runs that started at or after this time. */
  since?: Date;
  limit: number;
}

export interface HourTotals {
  /** The start of the hour. */
  hour: Date;
  runs: number;
  values: Record<string, number>;
}

/** Run history as operators browse it: every job, newest first, page by page. */
export class RunBrowser {
  constructor(private readonly runs: Collection<RunDoc>) {}

  page(filter: RunFilter): Promise<RunDoc[]> {
    const query: Filter<RunDoc> = {};
    if (filter.job !== undefined) query.job = filter.job;
    if (filter.status !== undefined) query.status = filter.status;
    if (filter.trigger !== undefined) query.trigger = filter.trigger;
    const range: { $lt?: Date; $gte?: Date } = {};
    if (filter.since !== undefined) range.$gte = filter.since;
    const conditions: Filter<RunDoc>[] = [query];
    if (filter.before !== undefined) {
      conditions.push(
        filter.beforeId === undefined
          ? { started_at: { $lt: filter.before } }
          : {
              $or: [
                { started_at: { $lt: filter.before } },
                { started_at: filter.before, _id: { $lt: filter.beforeId } },
              ],
            },
      );
    }
    if (range.$gte !== undefined) conditions.push({ started_at: range });
    return this.runs
      .find(conditions.length === 1 ? query : { $and: conditions })
      .sort({ started_at: -1, _id: -1 })
      .limit(filter.limit)
      .project<RunDoc>({ expire_at: 0 })
      .toArray();
  }

  findById(id: string): Promise<RunDoc | null> {
    return this.runs.findOne({ _id: id }, { projection: { expire_at: 0 } });
  }

  /**
   * One job's result counts summed per hour since `since` (hours in UTC, which are whole hours in
   * every time zone but a few); read in one query and summed here, at most a day of runs.
   */
  async totalsPerHour(job: string, since: Date, fields: readonly string[]): Promise<HourTotals[]> {
    const docs = await this.runs
      .find(
        { job, started_at: { $gte: since }, status: { $in: ['succeeded', 'failed', 'abandoned'] } },
        { projection: { started_at: 1, result: 1 } },
      )
      .toArray();
    const hours = new Map<number, HourTotals>();
    for (const doc of docs) {
      const hour = Math.floor(doc.started_at.getTime() / 3_600_000) * 3_600_000;
      let totals = hours.get(hour);
      if (!totals) {
        totals = { hour: new Date(hour), runs: 0, values: Object.fromEntries(fields.map((f) => [f, 0])) };
        hours.set(hour, totals);
      }
      totals.runs += 1;
      for (const field of fields)
        totals.values[field] = (totals.values[field] ?? 0) + (doc.result?.[field] ?? 0);
    }
    return [...hours.values()].sort((a, b) => a.hour.getTime() - b.hour.getTime());
  }
}
