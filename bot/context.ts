import type { Context } from 'grammy';
import type { Logger } from 'pino';
import type { Repositories } from '../db/repositories/index.js';
import type { DeletionLimits } from './deletion/deletion-limits.js';
import type { JobControl } from './job-control.js';
import type { AccessService } from './services/access.js';
import type { Broadcaster } from './services/broadcaster.js';
import type { ContentService } from './services/content.js';
import type { DeleteTimeSetting } from './services/delete-time.js';

/** Per-update facts every handler needs, set once by the first middleware. */
export interface BotFlavor {
  /** "Now" from the injected clock, fixed for the whole update. */
  now: Date;
  isAdmin: boolean;
  log: Logger;
}

export type BotContext = Context & BotFlavor;

/** Everything the bot's features use; injected, never imported as globals. */
export interface BotDeps {
  adminIds: readonly number[];
  /** SCHEDULER_TIMEZONE: times shown to users and "today" for the daily limit. */
  timezone: string;
  /**
   * The longest content and broadcasts may stay (Telegram's 48 hours less their deleter's
   * schedule, which may change while the bot runs: read it when needed).
   */
  deletionLimits: DeletionLimits;
  logger: Logger;
  clock: () => Date;
  repos: Repositories;
  jobs: JobControl;
  access: AccessService;
  content: ContentService;
  deleteTime: DeleteTimeSetting;
  broadcaster: Broadcaster;
}
