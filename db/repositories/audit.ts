import type { Collection } from 'mongodb';
import type { AuditDoc } from '../collections.js';

const KEEP_MS = 366 * 86_400_000;

export type AuditEntry = Omit<AuditDoc, '_id' | 'expire_at'>;

/** The audit trail: one document per action taken through the dashboard, the API or /schedule. */
export class AuditRepository {
  constructor(private readonly audit: Collection<AuditDoc>) {}

  async record(entry: AuditEntry): Promise<void> {
    await this.audit.insertOne({ ...entry, expire_at: new Date(entry.at.getTime() + KEEP_MS) });
  }

  recent(limit: number): Promise<AuditDoc[]> {
    return this.audit.find({}, { sort: { at: -1, _id: -1 }, limit, projection: { expire_at: 0 } }).toArray();
  }
}
