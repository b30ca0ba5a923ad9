import { type Db, MongoClient } from 'mongodb';
import { afterEach, beforeEach } from 'vitest';
import { type Collections, getCollections } from '../../db/collections.js';
import { live } from './live.js';
import { type MongoEmulator, type MongoEmulatorOptions, startMongoEmulator } from './mongo-emulator/index.js';
import { topologyOptions } from './mongo-topology.js';

/**
 * A MongoDB emulator of the test's own, fresh for each test, that the test may stop and start (an
 * outage) without disturbing the suite's shared database; with a client and the collections of
 * `dbName` on it. It follows TEST_MONGO_TOPOLOGY; `options` tune it (e.g. a short cursor timeout).
 */
export function useOwnMongo(
  dbName: string,
  options: Omit<MongoEmulatorOptions, 'port'> = {},
): { emulator: MongoEmulator; collections: Collections; db: Db } {
  let emulator: MongoEmulator | undefined;
  let client: MongoClient | undefined;
  let collections: Collections | undefined;
  beforeEach(async () => {
    emulator = await startMongoEmulator({ port: 0, ...topologyOptions(), ...options });
    client = new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 5_000 });
    await client.connect();
    collections = getCollections(client.db(dbName));
  });
  afterEach(async () => {
    await client?.close();
    await emulator?.close();
    client = undefined;
    emulator = undefined;
    collections = undefined;
  });
  return {
    emulator: live(() => emulator, 'the MongoDB emulator'),
    collections: live(() => collections, 'the collections'),
    db: live(() => client?.db(dbName), 'the database'),
  };
}
