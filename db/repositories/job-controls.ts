import type { Collection } from 'mongodb';
import type { JobControlDoc } from '../collections.js';

/** Whether each job is paused: one document per job, shared by every instance. */
export class JobControlsRepository {
  constructor(private readonly controls: Collection<JobControlDoc>) {}

  async isPaused(job: string): Promise<boolean> {
    const control = await this.controls.findOne({ _id: job });
    return control?.paused === true;
  }

  async pausedJobs(): Promise<Set<string>> {
    const docs = await this.controls.find({ paused: true }).toArray();
    return new Set(docs.map((doc) => doc._id));
  }

  async setPaused(job: string, paused: boolean, now: Date, by?: string): Promise<void> {
    await this.controls.updateOne(
      { _id: job },
      { $set: { paused, changed_at: now, ...(by === undefined ? {} : { changed_by: by }) } },
      { upsert: true },
    );
  }
}
