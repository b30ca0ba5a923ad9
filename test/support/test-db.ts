import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { type Database, wrapClient } from '../../db/client.js';
import { ensureIndexes } from '../../db/indexes.js';

export interface TestDatabase extends Database {
  readonly uri: string;
  readonly dbName: string;
  /** A second, independent client on the same database (another bot instance, say). */
  connectAnother(options?: MongoClientOptions): Promise<Database>;
  /** Drops the database and closes every client opened through this handle. */
  dispose(): Promise<void>;
}

/** A fresh, uniquely named database on the backend chosen by the global setup. */
export async function openTestDatabase(
  label = basename(expect.getState().testPath ?? 'test'),
  options: { indexes?: boolean } = {},
): Promise<TestDatabase> {
  const uri = inject('mongoUri');
  const dbName =
    `t_${label.replace(/\.test\.ts$/, '').replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 40) +
    `_${randomBytes(4).toString('hex')}`;
  const clients: MongoClient[] = [];
  const connect = async (driverOptions?: MongoClientOptions) => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000, ...driverOptions });
    await client.connect();
    clients.push(client);
    return wrapClient(client, dbName);
  };
  const main = await connect();
  if (options.indexes !== false) await ensureIndexes(main.db);
  return {
    ...main,
    uri,
    dbName,
    connectAnother: connect,
    async dispose() {
      await main.db.dropDatabase().catch(() => undefined);
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

/** Opens a test database for the current file and disposes of it afterwards. */
export function useTestDatabase(options?: { indexes?: boolean }): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await openTestDatabase(undefined, options);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  return () => {
    if (!database) throw new Error('test database is not open yet (use it inside a test or hook)');
    return database;
  };
}
