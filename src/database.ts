import { connectDatabase, type Database } from '../db/client.js';
import type { IndexReport } from '../db/index-reconciler.js';
import { CORE_INDEXES, ensureIndexes } from '../db/indexes.js';
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
    try {
      logOverriddenSettings(database, logger);
      const report = await ensureIndexes(database.db, CORE_INDEXES, {
        buildTimeoutMs: config.mongodb.indexBuildTimeoutMs,
        logger,
      });
      logger.info(
        { uri: maskUri(uri), db: config.mongodb.dbName, indexes: summarize(report) },
        'connected to MongoDB; indexes reconciled',
      );
    } catch (error) {
      await database.close().catch(() => undefined);
      throw error;
    }
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

/**
 * One line when the connection string asks for reads from secondaries or weaker writes than the
 * bot uses for its own collections; the URI itself is not repeated (it may hold a password).
 */
export function logOverriddenSettings(database: Database, logger: Logger): void {
  if (database.overridden.length === 0) return;
  logger.warn(
    {
      overridden: Object.fromEntries(
        database.overridden.map(({ setting, requested, used }) => [setting, { requested, used }]),
      ),
    },
    `MONGODB_URI asks for ${database.overridden
      .map(({ setting, requested }) => `${setting}=${requested}`)
      .join(
        ', ',
      )}; the bot reads and writes its own collections with readPreference=primary, w=majority and readConcern majority instead`,
  );
}

/** The report as counts, with the names of everything that was not already in place. */
function summarize(report: IndexReport): Record<string, unknown> {
  return {
    unchanged: report.unchanged.length,
    ...(report.created.length > 0 ? { created: report.created } : {}),
    ...(report.migrated.length > 0 ? { migrated: report.migrated } : {}),
    ...(report.rebuilt.length > 0 ? { rebuilt: report.rebuilt } : {}),
    ...(report.equivalent.length > 0 ? { equivalent: report.equivalent } : {}),
    ...(report.extra.length > 0 ? { extra: report.extra } : {}),
  };
}
