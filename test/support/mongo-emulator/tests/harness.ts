import { type Db, MongoClient } from 'mongodb';
import { topologyOptions } from '../../mongo-topology.js';
import { type MongoEmulator, type MongoEmulatorOptions, startMongoEmulator } from '../index.js';

/**
 * These suites describe MongoDB's documented behaviour through the official driver. By default
 * they run against a fresh emulator; set MONGO_CONFORMANCE_URI to run the same assertions
 * against a real mongod (7.0+, standalone) and check that the emulator and MongoDB agree.
 * TEST_MONGO_TOPOLOGY=replset runs them against the emulator as a single-node replica set.
 */
export const REAL_SERVER_URI = process.env.MONGO_CONFORMANCE_URI;

export interface TestServer {
  uri: string;
  client: MongoClient;
  /** Absent when the suite runs against a real server. */
  emulator: MongoEmulator | undefined;
  /** A database nobody else uses; dropped again by close(). */
  freshDb(): Db;
  close(): Promise<void>;
}

let databaseCounter = 0;

export async function startTestServer(options: MongoEmulatorOptions = {}): Promise<TestServer> {
  const emulator = REAL_SERVER_URI
    ? undefined
    : await startMongoEmulator({ port: 0, ...topologyOptions(), ...options });
  const uri = REAL_SERVER_URI ?? (emulator as MongoEmulator).uri;
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  const used: Db[] = [];
  return {
    uri,
    client,
    emulator,
    freshDb() {
      databaseCounter += 1;
      const db = client.db(`conformance_${process.pid}_${databaseCounter}`);
      used.push(db);
      return db;
    },
    async close() {
      for (const db of used) await db.dropDatabase().catch(() => undefined);
      await client.close();
      await emulator?.close();
    },
  };
}

/** Runs `action` and returns what it threw, failing the test if it did not throw. */
export async function caught(action: () => Promise<unknown>): Promise<Record<string, unknown> & Error> {
  try {
    await action();
  } catch (error) {
    return error as Record<string, unknown> & Error;
  }
  throw new Error('expected the operation to fail');
}

/** Polls `condition` until it holds, for effects of background work (TTL monitor, recovery). */
export async function waitFor(
  condition: () => Promise<boolean>,
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
