import type { Context } from 'grammy';
import type { Collections } from '../db/collections.js';
import type { Repositories } from '../db/repositories/index.js';
import type { SchedulerRuntime } from '../schedulers/runtime.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
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
  config: Config;
  logger: Logger;
  clock: () => Date;
  repos: Repositories;
  collections: Collections;
  runtime: SchedulerRuntime;
  access: AccessService;
  content: ContentService;
  deleteTime: DeleteTimeSetting;
  broadcaster: Broadcaster;
}
