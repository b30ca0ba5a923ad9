import type { Collections } from '../collections.js';
import { BroadcastsRepository } from './broadcasts.js';
import { PendingDeletionsRepository } from './pending-deletions.js';
import { SettingsRepository } from './settings.js';
import { TokenCountsRepository } from './token-counts.js';
import { TokensRepository } from './tokens.js';
import { UsersRepository } from './users.js';

export interface Repositories {
  users: UsersRepository;
  tokens: TokensRepository;
  tokenCounts: TokenCountsRepository;
  pendingDeletions: PendingDeletionsRepository;
  broadcasts: BroadcastsRepository;
  settings: SettingsRepository;
}

export function createRepositories(collections: Collections): Repositories {
  return {
    users: new UsersRepository(collections.users),
    tokens: new TokensRepository(collections.tokens),
    tokenCounts: new TokenCountsRepository(collections.tokenCounts),
    pendingDeletions: new PendingDeletionsRepository(collections.pendingDeletions),
    broadcasts: new BroadcastsRepository(collections.broadcasts, collections.broadcastMessages),
    settings: new SettingsRepository(collections.settings),
  };
}

export {
  BroadcastsRepository,
  PendingDeletionsRepository,
  SettingsRepository,
  TokenCountsRepository,
  TokensRepository,
  UsersRepository,
};
