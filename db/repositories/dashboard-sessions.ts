import type { Collection } from 'mongodb';
import type { DashboardSessionDoc } from '../collections.js';

/**
 * Dashboard logins, shared by every instance behind a load balancer; a TTL index drops them once
 * expired, and the expiry is also checked on every read (the TTL monitor runs once a minute).
 */
export class DashboardSessionsRepository {
  constructor(private readonly sessions: Collection<DashboardSessionDoc>) {}

  async create(session: DashboardSessionDoc): Promise<void> {
    await this.sessions.insertOne(session);
  }

  findLive(id: string, now: Date): Promise<DashboardSessionDoc | null> {
    return this.sessions.findOne({ _id: id, expires_at: { $gt: now } });
  }

  async remove(id: string): Promise<void> {
    await this.sessions.deleteOne({ _id: id });
  }
}
