import type { MongoEmulatorOptions } from './mongo-emulator/index.js';

/**
 * TEST_MONGO_TOPOLOGY=standalone|replset (default standalone) chooses how the suites' emulators
 * present themselves: a standalone mongod, or the primary of a single-node replica set that the
 * driver reaches with `?replicaSet=` (sessions, retryable writes, $clusterTime).
 */
export type TestTopology = 'standalone' | 'replset';

export const TEST_REPLICA_SET = 'rs0';

export function testTopology(): TestTopology {
  const value = process.env.TEST_MONGO_TOPOLOGY ?? 'standalone';
  if (value !== 'standalone' && value !== 'replset') {
    throw new Error(`TEST_MONGO_TOPOLOGY must be 'standalone' or 'replset', not '${value}'`);
  }
  return value;
}

/** Emulator options for the chosen topology. */
export function topologyOptions(): Pick<MongoEmulatorOptions, 'replSet'> {
  return testTopology() === 'replset' ? { replSet: TEST_REPLICA_SET } : {};
}
