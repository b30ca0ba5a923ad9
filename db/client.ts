import {
  type Db,
  type DbOptions,
  MongoClient,
  type MongoClientOptions,
  ReadConcern,
  ReadPreference,
  WriteConcern,
} from 'mongodb';
import { type Collections, getCollections } from './collections.js';
import { maskUri } from './mask-uri.js';

/**
 * What the bot's own database is read and written with, whatever the connection string says.
 * Claims, leases, the update inbox and the rate budget coordinate instances through these
 * collections, so on a replica set:
 * - writes wait for a majority (`w: 'majority'`): an acknowledged claim survives a failover
 *   instead of being rolled back after another instance already saw it;
 * - reads go to the primary: a secondary lags, and a lagging read of a lease or a claim makes an
 *   instance act on a state that is already gone;
 * - reads see majority-committed data only (`readConcern: 'majority'`): a primary that is about
 *   to lose its role can no longer show a write that will be rolled back. The writes that decide
 *   (claims, leases) are atomic updates, which readConcern does not affect, so nothing waits
 *   longer for it; on a standalone server it changes nothing.
 * `wtimeoutMS` and `journal` from the URI are kept.
 */
export const COORDINATION_READ_PREFERENCE = 'primary';
export const COORDINATION_WRITE_CONCERN_W = 'majority';
export const COORDINATION_READ_CONCERN = 'majority';

/** One setting of the connection string that the bot's database does not follow. */
export interface OverriddenSetting {
  setting: 'readPreference' | 'w' | 'readConcernLevel';
  /** What the URI asked for. */
  requested: string;
  /** What the bot uses instead. */
  used: string;
}

/** The options of the bot's `Db`, and which of the client's (the URI's) settings they override. */
export function coordinationOptions(client: MongoClient): {
  options: DbOptions;
  overridden: OverriddenSetting[];
} {
  const overridden: OverriddenSetting[] = [];
  const readPreference = client.readPreference;
  if (readPreference.mode !== COORDINATION_READ_PREFERENCE) {
    overridden.push({ setting: 'readPreference', requested: readPreference.mode, used: 'primary' });
  }
  const requestedWrite = client.writeConcern;
  if (requestedWrite?.w !== undefined && requestedWrite.w !== COORDINATION_WRITE_CONCERN_W) {
    overridden.push({
      setting: 'w',
      requested: String(requestedWrite.w),
      used: COORDINATION_WRITE_CONCERN_W,
    });
  }
  const requestedRead = client.readConcern;
  if (requestedRead?.level !== undefined && requestedRead.level !== COORDINATION_READ_CONCERN) {
    overridden.push({
      setting: 'readConcernLevel',
      requested: String(requestedRead.level),
      used: COORDINATION_READ_CONCERN,
    });
  }
  const writeConcern = new WriteConcern(
    COORDINATION_WRITE_CONCERN_W,
    requestedWrite?.wtimeoutMS,
    requestedWrite?.journal,
  );
  return {
    options: {
      readPreference: ReadPreference.primary,
      writeConcern,
      readConcern: new ReadConcern(COORDINATION_READ_CONCERN),
    },
    overridden,
  };
}

export interface Database {
  readonly client: MongoClient;
  readonly db: Db;
  readonly collections: Collections;
  /**
   * Settings of the connection string the bot's database does not follow (a secondary read
   * preference, `w=1`, ...): it always reads from the primary and writes with `w: 'majority'`.
   */
  readonly overridden: readonly OverriddenSetting[];
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
  const { options, overridden } = coordinationOptions(client);
  const db = client.db(dbName, options);
  return {
    client,
    db,
    collections: getCollections(db),
    overridden,
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
