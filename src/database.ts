import { connectDatabase, type Database } from '../db/client.js';
import { ensureIndexes } from '../db/indexes.js';
import type { Config } from './config.js';
import { type LocalMongo, LocalMongoUnavailableError, startLocalMongod } from './local-mongo.js';
import type { Logger } from './logger.js';
import { maskUri } from './redact.js';
import { StartupError } from './startup-error.js';

export interface OpenedDatabase {
  database: Database;
  close(): Promise<void>;
}

/** Connects to MONGODB_URI, or in development to a local mongod kept under ./data. */
export async function openDatabase(config: Config, logger: Logger): Promise<OpenedDatabase> {
  let local: LocalMongo | undefined;
  let uri = config.mongodb.uri;
  if (uri === undefined) {
    try {
      local = await startLocalMongod({ dbPath: config.mongodb.dataDir });
    } catch (error) {
      if (!(error instanceof LocalMongoUnavailableError)) throw error;
      throw new StartupError(
        `MONGODB_URI is not set and a local MongoDB could not start: ${error.message}. ` +
          'Set MONGODB_URI to your MongoDB server, or run `npm run db:emulator` and set MONGODB_URI to the URI it prints.',
      );
    }
    uri = local.uri;
    logger.info(
      { uri: maskUri(uri), dataDir: config.mongodb.dataDir },
      'started a local MongoDB for development',
    );
  }

  try {
    const database = await connectDatabase({ uri, dbName: config.mongodb.dbName });
    await ensureIndexes(database.db);
    logger.info({ uri: maskUri(uri), db: config.mongodb.dbName }, 'connected to MongoDB; indexes ensured');
    return {
      database,
      async close() {
        await database.close();
        await local?.stop();
      },
    };
  } catch (error) {
    await local?.stop();
    throw new StartupError(error instanceof Error ? error.message : String(error));
  }
}
