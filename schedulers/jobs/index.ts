export { deleteExpiredBroadcasts } from './broadcast-deleter.js';
export {
  type CatalogEntry,
  catalogEntry,
  createJobs,
  isJobName,
  JOB_CATALOG,
  JOB_NAMES,
  type JobName,
} from './catalog.js';
export type { JobDeps, RunInput } from './deps.js';
export { deleteDueMessages } from './message-deleter.js';
export { cleanupExpiredTokens } from './token-cleanup.js';
export { resetTokenCounts } from './token-count-reset.js';
