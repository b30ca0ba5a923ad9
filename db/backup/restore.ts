import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { BSON, type Db, type Document } from 'mongodb';
import {
  describeFsError,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MAX_BSON_DOCUMENT_BYTES,
  type Manifest,
  type ManifestFile,
} from './format.js';

/** A backup directory that must not be restored; the message is one line saying why. */
export class BackupRefusedError extends Error {
  override readonly name = 'BackupRefusedError';
}

/**
 * Types kept exactly as stored: Int32 stays Int32 and Double stays Double (even 2.0), Long stays
 * Long, binary stays Binary, regular expressions stay BSONRegExp. What this decodes serializes to
 * the bytes it was read from.
 */
export const EXACT_TYPES: BSON.DeserializeOptions = {
  promoteLongs: false,
  promoteValues: false,
  promoteBuffers: false,
  bsonRegExp: true,
  useBigInt64: false,
};

/** Splits a byte stream of concatenated BSON documents into one Buffer per document. */
export class BsonSplitter extends Transform {
  private pending: Buffer = Buffer.alloc(0);

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (this.pending.length - offset >= 4) {
      const size = this.pending.readInt32LE(offset);
      if (size < 5 || size > MAX_BSON_DOCUMENT_BYTES) {
        callback(new Error(`invalid BSON document size ${size}`));
        return;
      }
      if (this.pending.length - offset < size) break;
      const doc = this.pending.subarray(offset, offset + size);
      if (doc[size - 1] !== 0) {
        callback(new Error('a BSON document does not end with its terminating zero'));
        return;
      }
      this.push(doc);
      offset += size;
    }
    this.pending = offset === 0 ? this.pending : Buffer.from(this.pending.subarray(offset));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0)
      callback(new Error(`truncated BSON: ${this.pending.length} trailing byte(s)`));
    else callback();
  }
}

export interface VerifiedBackup {
  path: string;
  manifest: Manifest;
}

function refuse(path: string, why: string): never {
  throw new BackupRefusedError(`refusing to restore ${path}: ${why}`);
}

/**
 * Everything a restore checks before it touches the database: the directory is one of our
 * complete backups (not `.partial`, a manifest of our format), every file the manifest lists is
 * there with its size and SHA-256, every gzip stream decompresses, every BSON file splits into
 * whole documents that decode, in the manifest's numbers, and every metadata file parses.
 */
export async function verifyBackup(dirArg: string): Promise<VerifiedBackup> {
  const path = resolve(dirArg);
  if (/\.partial$/.test(basename(path))) refuse(path, 'it is an unfinished backup (.partial)');
  try {
    if (!(await stat(path)).isDirectory()) refuse(path, 'not a directory');
  } catch (error) {
    if (error instanceof BackupRefusedError) throw error;
    refuse(path, `cannot read it: ${describeFsError(error)}`);
  }
  let manifestText: string;
  try {
    manifestText = await readFile(join(path, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      refuse(path, `no ${MANIFEST_FILE}: not a backup of this bot, or an unfinished one`);
    }
    refuse(path, `cannot read ${MANIFEST_FILE}: ${describeFsError(error)}`);
  }
  const manifest = parseManifest(path, manifestText);

  for (const collection of manifest.collections) {
    await checkFile(path, collection.data, async (input) => {
      let documents = 0;
      let bsonBytes = 0;
      const check = new Transform({
        writableObjectMode: true,
        transform(doc: Buffer, _encoding, callback) {
          try {
            BSON.deserialize(doc, EXACT_TYPES);
          } catch (error) {
            callback(new Error(`a document does not decode: ${(error as Error).message}`));
            return;
          }
          documents += 1;
          bsonBytes += doc.length;
          callback();
        },
      });
      await pipeline(input, createGunzip(), new BsonSplitter(), check);
      if (documents !== collection.documents || bsonBytes !== collection.bsonBytes) {
        throw new Error(
          `${documents} document(s) of ${bsonBytes} bytes where the manifest says ${collection.documents} of ${collection.bsonBytes}`,
        );
      }
    });
    await checkFile(path, collection.metadata, async (input) => {
      const text = await gunzipText(input);
      const metadata = BSON.EJSON.parse(text, { relaxed: false }) as Document;
      if (!Array.isArray(metadata.indexes)) throw new Error('no "indexes" array');
    });
  }
  return { path, manifest };
}

function parseManifest(path: string, text: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch {
    refuse(path, `${MANIFEST_FILE} is not valid JSON`);
  }
  if (manifest?.format !== MANIFEST_FORMAT) refuse(path, `${MANIFEST_FILE} is not one of this bot's backups`);
  if (manifest.version !== MANIFEST_VERSION) {
    refuse(
      path,
      `${MANIFEST_FILE} has version ${String(manifest.version)}; this version reads ${MANIFEST_VERSION}`,
    );
  }
  if (typeof manifest.database !== 'string' || !Array.isArray(manifest.collections)) {
    refuse(path, `${MANIFEST_FILE} lacks its database or collections`);
  }
  const safe = /^[^/\\]+\/[^/\\]+$/;
  for (const collection of manifest.collections) {
    for (const file of [collection.data, collection.metadata]) {
      if (!file || typeof file.path !== 'string' || !safe.test(file.path) || file.path.includes('..')) {
        refuse(path, `${MANIFEST_FILE} lists a bad file for collection ${String(collection.name)}`);
      }
    }
  }
  return manifest;
}

async function checkFile(
  root: string,
  file: ManifestFile,
  decode: (input: NodeJS.ReadableStream) => Promise<void>,
): Promise<void> {
  const full = join(root, file.path);
  let size: number;
  try {
    size = (await stat(full)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') refuse(root, `${file.path} is missing`);
    refuse(root, `cannot read ${file.path}: ${describeFsError(error)}`);
  }
  if (size !== file.bytes) refuse(root, `${file.path} has ${size} bytes, the manifest says ${file.bytes}`);
  const hash = createHash('sha256');
  const input = createReadStream(full);
  input.on('data', (chunk) => hash.update(chunk));
  try {
    await decode(input);
  } catch (error) {
    // A checksum mismatch is the clearer report when both hold.
    await new Promise<void>((done) => {
      if (input.destroyed) done();
      else input.destroy().once('close', () => done());
    });
    const again = await sha256Of(full).catch(() => undefined);
    if (again !== undefined && again !== file.sha256)
      refuse(root, `${file.path} is corrupt (SHA-256 mismatch)`);
    refuse(root, `${file.path} is corrupt: ${(error as Error).message}`);
  }
  if (hash.digest('hex') !== file.sha256) refuse(root, `${file.path} is corrupt (SHA-256 mismatch)`);
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function gunzipText(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  const gunzip = createGunzip();
  gunzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  await pipeline(input, gunzip);
  return Buffer.concat(chunks).toString('utf8');
}

export interface RestoreOptions {
  db: Db;
  backup: VerifiedBackup;
  /** Drop each collection before restoring it; without it a non-empty collection refuses the restore. */
  drop: boolean;
  /** Documents per insertMany (also bounded by `batchBytes`). */
  batchSize?: number;
  batchBytes?: number;
}

export interface RestoreSummary {
  collections: number;
  documents: number;
  indexes: number;
}

/**
 * Restores a verified backup into `db` (whatever database the backup came from). Without `drop`
 * every target collection is checked first and one that holds documents refuses the whole
 * restore before anything is written.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreSummary> {
  const { db, backup, drop } = options;
  const batchSize = options.batchSize ?? 1_000;
  const batchBytes = options.batchBytes ?? 8 * 1024 * 1024;
  const { manifest, path } = backup;
  if (!drop) {
    const occupied: string[] = [];
    for (const { name } of manifest.collections) {
      if ((await db.collection(name).countDocuments({}, { limit: 1 })) > 0) occupied.push(name);
    }
    if (occupied.length > 0) {
      throw new BackupRefusedError(
        `refusing to restore into ${db.databaseName}: collection(s) ${occupied.join(', ')} already hold documents (use --drop to replace them)`,
      );
    }
  }

  let documents = 0;
  let indexes = 0;
  for (const collection of manifest.collections) {
    const metadata = BSON.EJSON.parse(
      await gunzipText(createReadStream(join(path, collection.metadata.path))),
      { relaxed: false },
    ) as Document;
    if (drop) {
      await db
        .collection(collection.name)
        .drop()
        .catch((error: unknown) => {
          // Servers before 7.0 answer NamespaceNotFound for a collection that is not there.
          if ((error as { codeName?: string }).codeName !== 'NamespaceNotFound') throw error;
        });
    }
    const exists =
      (await db.listCollections({ name: collection.name }, { nameOnly: true }).toArray()).length > 0;
    if (!exists) {
      await db.command({ create: collection.name, ...((metadata.options as Document | undefined) ?? {}) });
    }

    let batch: Document[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await db.collection(collection.name).insertMany(batch, { ordered: true, checkKeys: false });
      documents += batch.length;
      batch = [];
      bytes = 0;
    };
    const docs = createReadStream(join(path, collection.data.path))
      .pipe(createGunzip())
      .pipe(new BsonSplitter());
    for await (const raw of docs as AsyncIterable<Buffer>) {
      batch.push(BSON.deserialize(raw, EXACT_TYPES));
      bytes += raw.length;
      if (batch.length >= batchSize || bytes >= batchBytes) await flush();
    }
    await flush();

    const specs = (metadata.indexes as Document[])
      .filter((spec) => spec.name !== '_id_')
      .map(({ ns: _ns, ...spec }) => spec);
    if (specs.length > 0) {
      await db.command({ createIndexes: collection.name, indexes: specs });
      indexes += specs.length;
    }
  }
  return { collections: manifest.collections.length, documents, indexes };
}
