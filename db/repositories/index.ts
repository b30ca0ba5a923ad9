import type { Collections } from '../collections.js';
import { AuditRepository } from './audit.js';
import { BroadcastsRepository } from './broadcasts.js';
import { ContentsRepository } from './contents.js';
import { DashboardSessionsRepository } from './dashboard-sessions.js';
import { JobControlsRepository } from './job-controls.js';
import { LeasesRepository } from './leases.js';
import { PendingDeletionsRepository } from './pending-deletions.js';
import { RunBrowser } from './run-browser.js';
import { RunHistory } from './runs.js';
import { SettingsRepository } from './settings.js';
import { StatsRepository } from './stats.js';
import { TokenCountsRepository } from './token-counts.js';
import { TokensRepository } from './tokens.js';
import { UpdateInboxRepository } from './update-inbox.js';
import { UsersRepository } from './users.js';

/**
 * The repositories every instance shares. Two more are made per instance, because they write
 * its identity: RunsRepository (claims) and AlertsRepository (who raised an alert).
 */
export interface Repositories {
  users: UsersRepository;
  contents: ContentsRepository;
  jobControls: JobControlsRepository;
  leases: LeasesRepository;
  runHistory: RunHistory;
  tokens: TokensRepository;
  tokenCounts: TokenCountsRepository;
  pendingDeletions: PendingDeletionsRepository;
  broadcasts: BroadcastsRepository;
  settings: SettingsRepository;
  updateInbox: UpdateInboxRepository;
  stats: StatsRepository;
  audit: AuditRepository;
  dashboardSessions: DashboardSessionsRepository;
  runBrowser: RunBrowser;
}

export interface RepositoryOptions {
  /** STATS_RETENTION_DAYS: how long a day of `daily_stats` is kept. */
  statsRetentionDays?: number;
}

export function createRepositories(collections: Collections, options: RepositoryOptions = {}): Repositories {
  return {
    users: new UsersRepository(collections.users),
    contents: new ContentsRepository(collections.contents),
    jobControls: new JobControlsRepository(collections.jobControls),
    leases: new LeasesRepository(collections.leases),
    runHistory: new RunHistory(collections.runs),
    tokens: new TokensRepository(collections.tokens),
    tokenCounts: new TokenCountsRepository(collections.tokenCounts),
    pendingDeletions: new PendingDeletionsRepository(collections.pendingDeletions),
    broadcasts: new BroadcastsRepository(collections.broadcasts, collections.broadcastMessages),
    settings: new SettingsRepository(collections.settings),
    updateInbox: new UpdateInboxRepository(collections.updateInbox),
    stats: new StatsRepository(collections.dailyStats, options.statsRetentionDays),
    audit: new AuditRepository(collections.audit),
    dashboardSessions: new DashboardSessionsRepository(collections.dashboardSessions),
    runBrowser: new RunBrowser(collections.runs),
  };
}

export {
  AuditRepository,
  BroadcastsRepository,
  DashboardSessionsRepository,
  PendingDeletionsRepository,
  RunBrowser,
  SettingsRepository,
  StatsRepository,
  TokenCountsRepository,
  TokensRepository,
  UpdateInboxRepository,
  UsersRepository,
};
