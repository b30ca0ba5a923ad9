import { type Db, MongoClient, type MongoClientOptions } from 'mongodb';
import { type Collections, getCollections } from './collections.js';
import { maskUri } from './mask-uri.js';

export interface Database {
  readonly client: MongoClient;
  readonly db: Db;
  readonly collections: Collections;
  /** Answers true when the server replies to a ping within the driver's timeouts. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  uri: string;
  dbName: string;
  appName?: string;
  driverOptions?: MongoClientOptions;
}

export class DatabaseConnectionError extends Error {
  override readonly name = 'DatabaseConnectionError';
}

export async function connectDatabase(options: ConnectOptions): Promise<Database> {
  const client = new MongoClient(options.uri, {
    appName: options.appName ?? 'telegram-maintenance-bot',
    // Fail a start-up against an unreachable server in seconds, unless the URI says otherwise.
    ...(/serverSelectionTimeoutMS=/i.test(options.uri) ? {} : { serverSelectionTimeoutMS: 10_000 }),
    ...options.driverOptions,
  });
  try {
    await client.connect();
    await client.db(options.dbName).command({ ping: 1 });
  } catch (error) {
    await client.close().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatabaseConnectionError(`cannot reach MongoDB at ${maskUri(options.uri)}: ${reason}`, {
      cause: error,
    });
  }
  return wrapClient(client, options.dbName);
}

export function wrapClient(client: MongoClient, dbName: string): Database {
  const db = client.db(dbName);
  return {
    client,
    db,
    collections: getCollections(db),
    async ping() {
      try {
        await db.command({ ping: 1 }, { timeoutMS: 2_000 });
        return true;
      } catch {
        return false;
      }
    },
    close: () => client.close(),
  };
}
