import type { CreateIndexesOptions, Db, IndexSpecification } from 'mongodb';
import { COLLECTION_NAMES } from './collections.js';
import { type IndexReport, type ReconcileOptions, reconcileIndexes } from './index-reconciler.js';

export interface IndexDefinition {
  collection: string;
  key: IndexSpecification;
  options: CreateIndexesOptions & { name: string };
  /** The query this index serves; kept next to it so an index without a reason is easy to spot. */
  serves: string;
}

/**
 * Every query the bot and the schedulers run is backed by one of these. Names are explicit so that
 * re-running `ensureIndexes()` is a no-op and a changed definition is recognised as such (migrated
 * or rebuilt) instead of silently creating a second index.
 */
export const CORE_INDEXES: readonly IndexDefinition[] = [
  {
    collection: COLLECTION_NAMES.tokens,
    key: { token: 1 },
    options: { name: 'token_unique', unique: true },
    serves: 'verification link lookup; tokens are never reused',
  },
  {
    collection: COLLECTION_NAMES.tokens,
    key: { expires_at: 1, status: 1 },
    options: { name: 'expires_at_status' },
    serves: 'token cleanup: {expires_at: {$lt: now}, status: {$in: [verified, bypassed]}}',
  },
  {
    collection: COLLECTION_NAMES.tokens,
    key: { user_id: 1, status: 1, expires_at: -1 },
    options: { name: 'user_access' },
    serves: 'access check: a verified or bypassed token of the user that has not expired',
  },
  {
    collection: COLLECTION_NAMES.users,
    key: { user_id: 1 },
    options: { name: 'user_id_unique', unique: true },
    serves: 'user registration and lookup by Telegram id',
  },
  {
    collection: COLLECTION_NAMES.users,
    key: { chat_id: 1 },
    options: { name: 'chat_id' },
    serves: 'marking the owner of a chat as blocked after a 403',
  },
  {
    collection: COLLECTION_NAMES.users,
    key: { blocked_at: 1, _id: 1 },
    options: { name: 'blocked_at_id' },
    serves: 'broadcast recipients: reachable users in _id order',
  },
  {
    collection: COLLECTION_NAMES.pendingDeletions,
    key: { delete_at: 1, _id: 1 },
    options: { name: 'delete_at_id' },
    serves: 'message deleter: {delete_at: {$lte: now}} in (delete_at, _id) pages',
  },
  {
    collection: COLLECTION_NAMES.pendingDeletions,
    key: { created_at: 1, _id: 1 },
    options: { name: 'created_at_id' },
    serves: "message deleter: records closest to Telegram's 48-hour limit first",
  },
  {
    collection: COLLECTION_NAMES.broadcasts,
    key: { delete_at: 1 },
    options: { name: 'delete_at' },
    serves: 'broadcast deleter: {delete_at: {$lte: now}}',
  },
  {
    collection: COLLECTION_NAMES.broadcasts,
    key: { created_at: -1, _id: -1 },
    options: { name: 'created_at_id' },
    serves: 'list of broadcasts (dashboard): newest first in (created_at, _id) pages',
  },
  {
    collection: COLLECTION_NAMES.broadcastMessages,
    key: { broadcast_id: 1, _id: 1 },
    options: { name: 'broadcast_id_id' },
    serves: 'broadcast deleter: recipients of one broadcast, streamed in _id order',
  },
  {
    collection: COLLECTION_NAMES.tokenCounts,
    key: { user_id: 1, date: 1 },
    options: { name: 'user_id_date_unique', unique: true },
    serves: 'daily token limit: one counter per user and day, incremented atomically',
  },
  {
    collection: COLLECTION_NAMES.tokenCounts,
    key: { date: 1 },
    options: { name: 'date' },
    serves: 'token count reset: {date: {$lt: today}}',
  },
  {
    collection: COLLECTION_NAMES.runs,
    key: { job: 1 },
    options: { name: 'one_running_per_job', unique: true, partialFilterExpression: { status: 'running' } },
    serves: 'a job never runs twice at the same time, on any instance',
  },
  {
    collection: COLLECTION_NAMES.runs,
    key: { job: 1, started_at: -1 },
    options: { name: 'job_started_at' },
    serves: 'last run, counts, the last 24 hours and recent outcomes per job (stats, /tasks, alerts)',
  },
  {
    collection: COLLECTION_NAMES.runs,
    key: { job: 1, slot: -1 },
    options: { name: 'job_slot' },
    serves: 'catch-up: the latest slot a job has a claim for',
  },
  {
    collection: COLLECTION_NAMES.runs,
    key: { started_at: -1, _id: -1 },
    options: { name: 'started_at_id' },
    serves: 'run history pages of every job, newest first (dashboard and GET /api/v1/runs)',
  },
  {
    collection: COLLECTION_NAMES.audit,
    key: { at: -1 },
    options: { name: 'at' },
    serves: 'the audit trail, newest first',
  },
  {
    collection: COLLECTION_NAMES.audit,
    key: { expire_at: 1 },
    options: { name: 'expire_at_ttl', expireAfterSeconds: 0 },
    serves: 'audit retention (a year)',
  },
  {
    collection: COLLECTION_NAMES.dashboardSessions,
    key: { expires_at: 1 },
    options: { name: 'expires_at_ttl', expireAfterSeconds: 0 },
    serves: 'dashboard sessions end on their own (DASHBOARD_SESSION_HOURS)',
  },
  {
    collection: COLLECTION_NAMES.runs,
    key: { expire_at: 1 },
    options: { name: 'expire_at_ttl', expireAfterSeconds: 0 },
    serves: 'run history retention (RUN_HISTORY_DAYS)',
  },
  {
    collection: COLLECTION_NAMES.rateShares,
    key: { expire_at: 1 },
    options: { name: 'expire_at_ttl', expireAfterSeconds: 0 },
    serves: 'rate budget: members whose heartbeat lapsed disappear (they are not counted from expire_at on)',
  },
  {
    collection: COLLECTION_NAMES.updateInbox,
    key: { key: 1 },
    options: { name: 'one_handling_per_key', unique: true, partialFilterExpression: { state: 'handling' } },
    serves: 'two updates of one chat are never handled at once, on any instance',
  },
  {
    collection: COLLECTION_NAMES.updateInbox,
    key: { key: 1, state: 1, _id: 1 },
    options: { name: 'key_state_id' },
    serves: "claiming a chat's lowest pending update",
  },
  {
    collection: COLLECTION_NAMES.updateInbox,
    key: { state: 1, _id: 1 },
    options: { name: 'state_id' },
    serves: 'the sweep: pending updates nobody took, oldest first',
  },
  {
    collection: COLLECTION_NAMES.updateInbox,
    key: { state: 1, lease_expires_at: 1 },
    options: { name: 'state_lease' },
    serves: 'the sweep: updates whose handler died ({state: handling, lease_expires_at <= now})',
  },
  {
    collection: COLLECTION_NAMES.updateInbox,
    key: { expire_at: 1 },
    options: { name: 'expire_at_ttl', expireAfterSeconds: 0 },
    serves: 'inbox retention: longer than Telegram keeps redelivering an update',
  },
  {
    collection: COLLECTION_NAMES.dailyStats,
    key: { expire_at: 1 },
    options: { name: 'expire_at_ttl', expireAfterSeconds: 0 },
    serves: 'daily statistics retention (STATS_RETENTION_DAYS); the digest reads days by _id',
  },
];

/**
 * Brings every collection's indexes to the declarations above (see db/index-reconciler.ts):
 * missing ones are built, changed ones migrated or rebuilt, equivalent ones under other names
 * accepted, undeclared ones reported and left alone. Run at every start, safe to run from several
 * instances at once.
 */
export async function ensureIndexes(
  db: Db,
  definitions: readonly IndexDefinition[] = CORE_INDEXES,
  options: ReconcileOptions = {},
): Promise<IndexReport> {
  return reconcileIndexes(db, definitions, options);
}
