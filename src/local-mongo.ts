import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * A development convenience: when MONGODB_URI is unset outside production, `npm start` runs a real
 * mongod through mongodb-memory-server, keeping its files in ./data so state survives restarts.
 * That needs a mongod binary (downloaded once from MongoDB's servers); offline it fails, and the
 * caller turns that into one line telling the operator what to do instead.
 */

export interface LocalMongo {
  readonly uri: string;
  stop(): Promise<void>;
}

export class LocalMongoUnavailableError extends Error {
  override readonly name = 'LocalMongoUnavailableError';
}

export async function startLocalMongod(options: { dbPath?: string } = {}): Promise<LocalMongo> {
  // Offline, the default of 3 download retries only delays the inevitable answer.
  process.env.MONGOMS_MAX_RETRIES ??= '1';
  const { MongoBinary, MongoMemoryServer } = await import('mongodb-memory-server-core');

  let binary: string;
  try {
    binary = await MongoBinary.getPath();
  } catch (error) {
    throw new LocalMongoUnavailableError(`no mongod binary available (${oneLine(error)})`, { cause: error });
  }

  const instance: { storageEngine: 'wiredTiger'; dbPath?: string } = { storageEngine: 'wiredTiger' };
  if (options.dbPath) {
    instance.dbPath = resolve(options.dbPath);
    await mkdir(instance.dbPath, { recursive: true });
  }
  try {
    const server = await MongoMemoryServer.create({ binary: { systemBinary: binary }, instance });
    return {
      uri: server.getUri(),
      // Keep the data directory: it is the whole point of a persistent local database.
      stop: async () => {
        await server.stop({ doCleanup: !options.dbPath, force: false });
      },
    };
  } catch (error) {
    throw new LocalMongoUnavailableError(`mongod did not start (${oneLine(error)})`, { cause: error });
  }
}

/** mongodb-memory-server's messages span lines; the operator gets them as one. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 300) || 'unknown error';
}
