import type { Api } from 'grammy';
import type { DeletionEngine } from '../../bot/deletion/deletion-engine.js';
import type { TransientRetryPolicy } from '../../bot/telegram/retry.js';
import type { Repositories } from '../../db/repositories/index.js';
import type { Logger } from '../../src/logger.js';

/** Everything the maintenance jobs need, injected so tests and the command line can build it. */
export interface JobDeps {
  repos: Repositories;
  api: Api;
  engine: DeletionEngine;
  /** The bot's @username, for the "Click Here" deep links. */
  botUsername(): Promise<string>;
  timezone: string;
  /** Records processed per database round trip. */
  batchSize: number;
  /** Runs a record may fail transiently (5xx, network) before it is given up with a warning. */
  maxAttempts: number;
  /** Chats worked on at once; the rate limiter paces the calls, this keeps its queue short. */
  concurrency: number;
  /** Retries within one run for a call that hit a 5xx or network error. */
  telegramRetry: TransientRetryPolicy;
}

/** The slice of a run context a job body uses; the manual entry points accept just this. */
export interface RunInput {
  now: Date;
  signal: AbortSignal;
  logger: Logger;
  dryRun: boolean;
}
