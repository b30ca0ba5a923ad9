import type { Collection, Db, ObjectId } from 'mongodb';
import type { AlertDoc } from './repositories/alerts.js';

/**
 * Collection and field names follow the seed (`../shared/seeds/001_*.txt`) so that data written by
 * the original bot and by this one are interchangeable.
 */

export interface UserDoc {
  _id?: ObjectId;
  user_id: number;
  chat_id: number;
  first_name: string;
  last_name: string | null;
  username: string | null;
  joined_at: Date;
  last_seen_at: Date;
  /** Set when Telegram says the user blocked the bot (or the account is gone); `null` while reachable. */
  blocked_at: Date | null;
}

export const TOKEN_STATUSES = ['unused', 'verified', 'bypassed'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

export interface TokenDoc {
  _id?: ObjectId;
  token: string;
  user_id: number;
  status: TokenStatus;
  created_at: Date;
  expires_at: Date;
  verified_at?: Date;
  /** The admin who granted a bypass. */
  granted_by?: number;
  /** The content the user asked for when the token was issued; delivered once it is verified. */
  content_id?: string;
}

export interface PendingDeletionDoc {
  _id?: ObjectId;
  user_id: number;
  chat_id: number;
  /** Filled in as the messages are sent: the record is written before the first of them. */
  message_ids: number[];
  delete_at: Date;
  content_id: string;
  /** Written before the messages were sent, so Telegram lets them be deleted until 48 hours after. */
  created_at: Date;
  /** Runs that hit a transient error (5xx, network) for this record; for operators, it decides nothing. */
  attempts?: number;
  last_error?: string;
}

/** Content saved by an admin with /save; users get copies through deep links. */
export interface ContentDoc {
  _id: string;
  source_chat_id: number;
  source_message_id: number;
  created_by: number;
  created_at: Date;
}

/**
 * `interrupted`: its sender stopped (shutdown, crash, database down) before every user had it;
 * `cancelled`: stopped on request (see `cancel_requested_at`). Either way the copies delivered are
 * recorded and deleted at `delete_at` like those of a broadcast that was `sent`.
 */
export type BroadcastStatus = 'sending' | 'sent' | 'interrupted' | 'cancelled';

export interface BroadcastCounts {
  total: number;
  delivered: number;
  blocked: number;
  failed: number;
}

export interface BroadcastDoc {
  _id?: ObjectId;
  delete_at: Date;
  created_at: Date;
  created_by: number;
  source_chat_id: number;
  source_message_id: number;
  status: BroadcastStatus;
  counts: BroadcastCounts;
  /** Where the admin watches progress. */
  progress_chat_id?: number;
  progress_message_id?: number;
  finished_at?: Date;
  /**
   * The instance sending it, and its last sign of life in the database server's time: a stale
   * one means the sender died and the broadcast was cut short.
   */
  owner?: string;
  heartbeat_at?: Date;
  /**
   * Someone asked for the sending to stop (set only while `sending`, the first request kept); the
   * sender hears of it through its heartbeat and ends the broadcast `cancelled`. A request that
   * came too late (everything sent, or the sender dead) stays recorded beside the other status.
   */
  cancel_requested_at?: Date;
  /** Who asked, for the record: `dashboard:admin-token`, say. */
  cancel_requested_by?: string;
}

/** One document per delivered copy, so deleting a broadcast never needs the whole user list. */
export interface BroadcastMessageDoc {
  _id?: ObjectId;
  broadcast_id: ObjectId;
  chat_id: number;
  message_id: number;
  /** When Telegram accepted the copy: Telegram lets it be deleted for 48 hours from then. */
  sent_at?: Date;
  /** Runs that hit a transient error deleting it; for operators, it decides nothing. */
  attempts?: number;
}

export interface TokenCountDoc {
  _id?: ObjectId;
  user_id: number;
  /** Calendar day in SCHEDULER_TIMEZONE, `YYYY-MM-DD`, so string order is date order. */
  date: string;
  count: number;
}

export type RunTrigger = 'scheduled' | 'manual' | 'catch-up';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'abandoned';
/** What a job reports about one run: small counts such as `{deleted: 12}`. */
export type RunCounts = Record<string, number>;

/**
 * A run of a job, which is also its claim. `_id` is the slot key (`job:2026-03-10T12:00:00.000Z`)
 * or a unique key for manual runs. `started_at`, `heartbeat_at` and `finished_at` are the
 * database server's time.
 */
export interface RunDoc {
  _id: string;
  job: string;
  slot: Date | null;
  trigger: RunTrigger;
  instance: string;
  status: RunStatus;
  started_at: Date;
  finished_at: Date | null;
  heartbeat_at: Date | null;
  attempts: number;
  result: RunCounts | null;
  error: string | null;
  /** Why a slot was skipped, or which run was found holding the job. */
  reason?: string;
  requested_by?: string;
  /** TTL: history older than RUN_HISTORY_DAYS disappears on its own. */
  expire_at: Date;
}

export type FinishedRunDoc = RunDoc & { status: Exclude<RunStatus, 'running' | 'skipped'> };

/**
 * What admins changed about one job while the bot runs, shared by every instance. A job without
 * a document runs, on the environment's schedule. The pause fields are absent until the job is
 * first paused or resumed, the schedule fields until its schedule is first changed.
 */
export interface JobControlDoc {
  _id: string;
  paused?: boolean;
  changed_at?: Date;
  changed_by?: string;
  /** Replaces the environment's schedule until it is unset (`/schedule <job> default`). */
  schedule?: string;
  /** The last change of the schedule, the return to the environment's included. */
  schedule_changed_at?: Date;
  schedule_changed_by?: string;
}

export interface LeaseDoc {
  _id: string;
  owner: string;
  /** The database server's time when the lease runs out unless renewed. */
  expires_at: Date;
}

/**
 * An instance that has sent bulk calls in the last few seconds and so holds a share of the bot
 * token's rate budget (see bot/telegram/shared-rate-budget.ts). `_id` is the instance id; both
 * times are the database server's.
 */
export interface RateShareDoc {
  _id: string;
  heartbeat_at: Date;
  /** Counted as a member until then; the TTL index removes it some time after. */
  expire_at: Date;
}

export interface SettingDoc {
  _id: string;
  value: unknown;
  updated_at: Date;
  updated_by?: number;
}

export type UpdateInboxState = 'pending' | 'handling' | 'done';

/**
 * One Telegram update as received, keyed by its update_id, so that a copy delivered again (or to
 * a second replica) is recognised. `key` orders a chat's updates: at most one update per key is
 * `handling` at a time, across every instance (a unique partial index).
 */
export interface UpdateInboxDoc {
  _id: number;
  key: string;
  state: UpdateInboxState;
  /** The update itself while it waits or is handled; dropped once done. */
  update?: Record<string, unknown>;
  received_at: Date;
  /** The instance handling it, and when its claim runs out unless renewed (server time). */
  owner?: string;
  lease_expires_at?: Date;
  /** How many times a claim on it was taken; above 1 means an instance died holding it. */
  attempts: number;
  done_at?: Date;
  /** TTL: the record outlives any redelivery of the update by Telegram. */
  expire_at: Date;
}

/** The counters of `daily_stats`, one per kind of event. */
export const DAILY_STAT_FIELDS = [
  'users_new',
  'users_blocked',
  'links_issued',
  'links_verified',
  'bypasses',
  'deliveries',
  'messages_deleted',
  'deletions_failed',
  'notices',
  'broadcasts',
  'broadcast_delivered',
  'broadcast_blocked',
  'broadcast_failed',
] as const;
export type DailyStatField = (typeof DAILY_STAT_FIELDS)[number];
export const RUN_STAT_STATUSES = ['succeeded', 'failed', 'skipped', 'abandoned'] as const;
export type RunStatStatus = (typeof RUN_STAT_STATUSES)[number];

/** One calendar day in SCHEDULER_TIMEZONE (`_id: 'YYYY-MM-DD'`): what happened, counted as it happened. */
export type DailyStatsDoc = {
  _id: string;
  runs?: Partial<Record<RunStatStatus, number>>;
  expire_at: Date;
} & Partial<Record<DailyStatField, number>>;

/** Who did what through the dashboard, the API or an admin command; kept for a year. */
export interface AuditDoc {
  _id?: ObjectId;
  at: Date;
  /** e.g. `dashboard:admin`, `api:viewer`, `telegram:12345`. */
  actor: string;
  /** Which credential: `DASHBOARD_TOKEN` or `DASHBOARD_READONLY_TOKEN` with a short fingerprint, or a Telegram id. */
  credential: string;
  action: string;
  target?: string;
  /** What was asked, e.g. the new schedule; never a secret. */
  details?: Record<string, unknown>;
  outcome: 'done' | 'refused' | 'failed';
  /** Why it was refused or failed. */
  message?: string;
  address?: string;
  expire_at: Date;
}

/** One dashboard login; the cookie holds a random id whose SHA-256 is `_id`. */
export interface DashboardSessionDoc {
  _id: string;
  role: 'admin' | 'viewer';
  /** The fingerprint of the token that opened it: a rotated token ends its sessions. */
  credential: string;
  created_at: Date;
  expires_at: Date;
  address?: string;
}

export interface Collections {
  users: Collection<UserDoc>;
  tokens: Collection<TokenDoc>;
  pendingDeletions: Collection<PendingDeletionDoc>;
  contents: Collection<ContentDoc>;
  broadcasts: Collection<BroadcastDoc>;
  broadcastMessages: Collection<BroadcastMessageDoc>;
  tokenCounts: Collection<TokenCountDoc>;
  settings: Collection<SettingDoc>;
  runs: Collection<RunDoc>;
  jobControls: Collection<JobControlDoc>;
  leases: Collection<LeaseDoc>;
  alerts: Collection<AlertDoc>;
  rateShares: Collection<RateShareDoc>;
  updateInbox: Collection<UpdateInboxDoc>;
  dailyStats: Collection<DailyStatsDoc>;
  audit: Collection<AuditDoc>;
  dashboardSessions: Collection<DashboardSessionDoc>;
}

export const COLLECTION_NAMES = {
  users: 'users',
  tokens: 'tokens',
  pendingDeletions: 'pending_deletions',
  contents: 'contents',
  broadcasts: 'broadcasts',
  broadcastMessages: 'broadcast_messages',
  tokenCounts: 'token_generator_count',
  settings: 'settings',
  runs: 'scheduler_runs',
  jobControls: 'scheduler_jobs',
  leases: 'bot_leases',
  alerts: 'ops_alerts',
  rateShares: 'rate_shares',
  updateInbox: 'update_inbox',
  dailyStats: 'daily_stats',
  audit: 'audit_log',
  dashboardSessions: 'dashboard_sessions',
} as const satisfies Record<keyof Collections, string>;

export function getCollections(db: Db): Collections {
  return {
    users: db.collection<UserDoc>(COLLECTION_NAMES.users),
    tokens: db.collection<TokenDoc>(COLLECTION_NAMES.tokens),
    pendingDeletions: db.collection<PendingDeletionDoc>(COLLECTION_NAMES.pendingDeletions),
    contents: db.collection<ContentDoc>(COLLECTION_NAMES.contents),
    broadcasts: db.collection<BroadcastDoc>(COLLECTION_NAMES.broadcasts),
    broadcastMessages: db.collection<BroadcastMessageDoc>(COLLECTION_NAMES.broadcastMessages),
    tokenCounts: db.collection<TokenCountDoc>(COLLECTION_NAMES.tokenCounts),
    settings: db.collection<SettingDoc>(COLLECTION_NAMES.settings),
    runs: db.collection<RunDoc>(COLLECTION_NAMES.runs),
    jobControls: db.collection<JobControlDoc>(COLLECTION_NAMES.jobControls),
    leases: db.collection<LeaseDoc>(COLLECTION_NAMES.leases),
    alerts: db.collection<AlertDoc>(COLLECTION_NAMES.alerts),
    rateShares: db.collection<RateShareDoc>(COLLECTION_NAMES.rateShares),
    updateInbox: db.collection<UpdateInboxDoc>(COLLECTION_NAMES.updateInbox),
    dailyStats: db.collection<DailyStatsDoc>(COLLECTION_NAMES.dailyStats),
    audit: db.collection<AuditDoc>(COLLECTION_NAMES.audit),
    dashboardSessions: db.collection<DashboardSessionDoc>(COLLECTION_NAMES.dashboardSessions),
  };
}
