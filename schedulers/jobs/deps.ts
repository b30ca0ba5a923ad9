import type { Api } from 'grammy';
import type { Logger } from 'pino';
import type { DeletionEngine } from '../../bot/deletion/deletion-engine.js';
import type { TransientRetryPolicy } from '../../bot/telegram/retry.js';
import type { Repositories } from '../../db/repositories/index.js';
import type { BackupDeps } from './backup.js';

/** Everything the maintenance jobs need, injected so tests and the command line can build it. */
export interface JobDeps {
  repos: Repositories;
  /** The bulk lane: waits out flood control however long it lasts (see bot/telegram/api.ts). */
  api: Api;
  engine: DeletionEngine;
  /** The bot's @username, for the "Click Here" deep links. */
  botUsername(): Promise<string>;
  timezone: string;
  /** ADMIN_IDS: who gets the digest. */
  adminIds: readonly number[];
  /** Records processed per database round trip. */
  batchSize: number;
  /**
   * Content older than this (counted from when its record was written) is nearest to Telegram's
   * 48-hour limit: the message deleter handles it first, even before its `delete_at`. It follows
   * the message deleter's schedule in effect, so it is asked at each run.
   */
  contentSafeLifetimeMs(): number;
  /** Chats worked on at once; the rate limiter paces the calls, this keeps its queue short. */
  concurrency: number;
  /** Retries within one run for a call that hit a 5xx or network error. */
  telegramRetry: TransientRetryPolicy;
  /** The backup job's database, directory and retention (BACKUP_* variables). */
  backup: BackupDeps;
}

/** The slice of a run context a job body uses; the manual entry points accept just this. */
export interface RunInput {
  /** The run's "now", fixed when it started. */
  now: Date;
  /** The runtime's clock, for jobs that look again after working a while. */
  clock(): Date;
  signal: AbortSignal;
  logger: Logger;
  dryRun: boolean;
  /**
   * Resolves while this run still holds its claim and throws once another instance declared it
   * abandoned (after a stall, say). Called before each batch's side effects; cheap when the claim
   * was confirmed recently.
   */
  confirmClaim(): Promise<void>;
}
