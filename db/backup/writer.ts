import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { BSON, type Db, type Document } from 'mongodb';
import {
  backupName,
  describeFsError,
  isBackupName,
  isFsError,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestCollection,
  type ManifestFile,
  partialBackupTime,
  partialName,
} from './format.js';

/** Opens a file for writing; a seam so tests can make a write fail (a full disk). */
export type OpenWrite = (path: string) => Writable;

export const openWriteExclusive: OpenWrite = (path) =>
  // flush: the data is on disk before the file counts as written (a crash after the rename must
  // not leave a backup whose files are empty).
  createWriteStream(path, { flags: 'wx', flush: true });

export interface WriteBackupOptions {
  db: Db;
  /** BACKUP_DIR: the backups are directories inside it. */
  dir: string;
  /** Names the backup (UTC timestamp). */
  now: Date;
  signal?: AbortSignal;
  openWrite?: OpenWrite;
  /** Called before each collection, for the run's claim and logs. */
  beforeCollection?(name: string): Promise<void>;
}

export interface BackupSummary {
  /** The complete backup's directory. */
  path: string;
  name: string;
  collections: number;
  documents: number;
  /** Uncompressed BSON bytes read from the database. */
  bsonBytes: number;
  /** Bytes written to disk (the gzip files and the manifest). */
  bytesWritten: number;
  manifest: Manifest;
}

/** A backup that could not be written for a reason of the file system (the message says which). */
export class BackupStorageError extends Error {
  override readonly name = 'BackupStorageError';
}

function storageError(dir: string, error: unknown): BackupStorageError {
  return new BackupStorageError(`cannot write backups to ${dir}: ${describeFsError(error)}`, {
    cause: error,
  });
}

/**
 * Writes every collection of `db` (system.* and views skipped) as `mongodump --gzip` does, under
 * a temporary name, and renames it once complete. Streams: cursor → raw BSON → gzip → file, with
 * backpressure, so memory stays flat whatever the size. Not a consistent snapshot: collections
 * are read one after the other while the bot keeps writing. On any failure the temporary directory
 * is removed and earlier backups are untouched.
 */
export async function writeBackup(options: WriteBackupOptions): Promise<BackupSummary> {
  const { db, dir } = options;
  const openWrite = options.openWrite ?? openWriteExclusive;
  const name = backupName(options.now);
  const finalPath = join(dir, name);
  const tempPath = join(dir, partialName(name));
  const dataDir = join(tempPath, db.databaseName);
  const startedAt = new Date();

  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw storageError(dir, error);
  }
  if (await exists(finalPath)) {
    throw new BackupStorageError(`cannot write backups to ${dir}: a backup named ${name} already exists`);
  }
  try {
    await mkdir(tempPath);
    await mkdir(dataDir);
  } catch (error) {
    // EEXIST of the temporary name: another writer of the same timestamp is at work; leave it be.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
      await rm(tempPath, { recursive: true, force: true });
    throw storageError(dir, error);
  }

  try {
    const infos = await db
      .listCollections({}, { nameOnly: false, promoteValues: false, promoteLongs: false })
      .toArray();
    const wanted = infos
      .filter(
        (info) => (info.type ?? 'collection') === 'collection' && !String(info.name).startsWith('system.'),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const collections: ManifestCollection[] = [];
    for (const info of wanted) {
      options.signal?.throwIfAborted();
      await options.beforeCollection?.(info.name);
      collections.push(await dumpCollection(db, info, dataDir, openWrite, options.signal));
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      database: db.databaseName,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      collections,
    };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await writeFile(join(tempPath, MANIFEST_FILE), manifestText, { flag: 'wx', flush: true });
    await rename(tempPath, finalPath);
    const bytesWritten =
      Buffer.byteLength(manifestText) +
      collections.reduce((sum, c) => sum + c.data.bytes + c.metadata.bytes, 0);
    return {
      path: finalPath,
      name,
      collections: collections.length,
      documents: collections.reduce((sum, c) => sum + c.documents, 0),
      bsonBytes: collections.reduce((sum, c) => sum + c.bsonBytes, 0),
      bytesWritten,
      manifest,
    };
  } catch (error) {
    await rm(tempPath, { recursive: true, force: true }).catch(() => undefined);
    if (isFsError(error)) throw storageError(dir, error);
    throw error;
  }
}

async function dumpCollection(
  db: Db,
  info: Document,
  dataDir: string,
  openWrite: OpenWrite,
  signal: AbortSignal | undefined,
): Promise<ManifestCollection> {
  const name = String(info.name);
  const collection = db.collection(name);
  const databaseDirName = db.databaseName;

  // Documents: raw BSON as the server sent it (no decode/encode, so every type survives as is).
  let documents = 0;
  let bsonBytes = 0;
  const count = new Transform({
    writableObjectMode: true,
    transform(doc: Uint8Array, _encoding, callback) {
      documents += 1;
      bsonBytes += doc.byteLength;
      callback(null, Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength));
    },
  });
  const cursor = collection.find({}, { raw: true, batchSize: 1_000 });
  const dataPath = join(dataDir, `${name}.bson.gz`);
  const data = await writeHashed(
    [cursor.stream(), count, createGzip()],
    dataPath,
    `${databaseDirName}/${name}.bson.gz`,
    openWrite,
    signal,
  );

  // Metadata: what mongodump writes (mongo-tools mongodump/metadata_dump.go), canonical EJSON.
  const indexes = await collection
    .listIndexes({ promoteValues: false, promoteLongs: false })
    .toArray()
    .catch((error: unknown) => {
      // Dropped while we read it: no indexes to record.
      if ((error as { codeName?: string }).codeName === 'NamespaceNotFound') return [];
      throw error;
    });
  const uuid = (info.info as Document | undefined)?.uuid as BSON.Binary | undefined;
  const metadata = {
    indexes,
    ...(uuid ? { uuid: Buffer.from(uuid.buffer).toString('hex') } : {}),
    collectionName: name,
    type: 'collection',
    options: (info.options as Document | undefined) ?? {},
  };
  const metadataText = BSON.EJSON.stringify(metadata, { relaxed: false });
  const gzip = createGzip();
  gzip.end(metadataText);
  const metadataFile = await writeHashed(
    [gzip],
    join(dataDir, `${name}.metadata.json.gz`),
    `${databaseDirName}/${name}.metadata.json.gz`,
    openWrite,
    signal,
  );
  return { name, documents, bsonBytes, data, metadata: metadataFile };
}

/** Pipes the streams into a new file, hashing what is written. */
async function writeHashed(
  streams: [NodeJS.ReadableStream, ...NodeJS.ReadWriteStream[]],
  path: string,
  relativePath: string,
  openWrite: OpenWrite,
  signal: AbortSignal | undefined,
): Promise<ManifestFile> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline([...streams, tap, openWrite(path)], signal ? { signal } : {});
  return { path: relativePath, bytes, sha256: hash.digest('hex') };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export interface RetentionResult {
  kept: string[];
  removed: string[];
  /** Our `.partial` directories older than a day (a crashed run's), removed. */
  removedPartial: string[];
}

const DAY_MS = 86_400_000;

/**
 * Keeps the newest `keep` complete backups in `dir`. Only directories named like ours are
 * touched: anything else (a file, another tool's directory) is never deleted. An unfinished
 * backup of ours (`.<timestamp>.partial`) is removed once it is more than a day older than `now`:
 * younger ones may belong to a run still writing on another instance.
 */
export async function pruneBackups(dir: string, keep: number, now: Date): Promise<RetentionResult> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw storageError(dir, error);
  }
  const complete = entries
    .filter((entry) => entry.isDirectory() && isBackupName(entry.name))
    .map((entry) => entry.name)
    .sort();
  const removed = complete.slice(0, Math.max(0, complete.length - keep));
  const kept = complete.slice(removed.length);
  const removedPartial = entries
    .filter((entry) => {
      const at = entry.isDirectory() ? partialBackupTime(entry.name) : undefined;
      return at !== undefined && now.getTime() - at.getTime() > DAY_MS;
    })
    .map((entry) => entry.name);
  try {
    for (const name of [...removed, ...removedPartial])
      await rm(join(dir, name), { recursive: true, force: true });
  } catch (error) {
    throw storageError(dir, error);
  }
  return { kept, removed, removedPartial };
}
