/**
 * The on-disk layout of a backup, shared by the writer (the `backup` job) and the reader
 * (`npm run restore`). It is the layout of `mongodump --gzip --out <dir>`, so MongoDB's own tools
 * restore it too:
 *
 *   <BACKUP_DIR>/<timestamp>/manifest.json                      ours: counts and SHA-256 of each file
 *   <BACKUP_DIR>/<timestamp>/<database>/<collection>.bson.gz    the documents, concatenated BSON, gzip
 *   <BACKUP_DIR>/<timestamp>/<database>/<collection>.metadata.json.gz
 *                                                              options and indexes, canonical Extended JSON
 *
 * A backup is written as `.<timestamp>.partial` and renamed once complete.
 */

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'telegram-bot-backup';
export const MANIFEST_VERSION = 1;

export interface ManifestFile {
  /** Path relative to the backup directory, with `/`. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ManifestCollection {
  name: string;
  documents: number;
  /** Uncompressed BSON bytes. */
  bsonBytes: number;
  data: ManifestFile;
  metadata: ManifestFile;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  database: string;
  /** When the backup started (ISO 8601); not a consistent snapshot: collections are read one by one. */
  startedAt: string;
  finishedAt: string;
  collections: ManifestCollection[];
}

/** `2026-03-10T03:30:00.000Z` → `2026-03-10T03-30-00.000Z` (no colons: safe in every file system and tar). */
export function backupName(at: Date): string {
  return at.toISOString().replace(/:/g, '-');
}

const NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/;
const PARTIAL = /^\.(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)\.partial$/;

/** A complete backup's directory name (sorting these names sorts them by time). */
export function isBackupName(name: string): boolean {
  return NAME.test(name);
}

/** The timestamp of one of our unfinished backups, from its directory name, or undefined. */
export function partialBackupTime(name: string): Date | undefined {
  const match = PARTIAL.exec(name);
  if (!match) return undefined;
  const iso = (match[1] as string).replace(/T(\d{2})-(\d{2})-(\d{2})/, 'T$1:$2:$3');
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

export function partialName(name: string): string {
  return `.${name}.partial`;
}

/** The largest document MongoDB stores (16 MiB) plus the room it allows internally. */
export const MAX_BSON_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is not a directory',
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  EIO: 'input/output error',
  EISDIR: 'is a directory',
};

/** `permission denied (EACCES)` for a file-system error, its message otherwise. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && FS_REASONS[code]) return `${FS_REASONS[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

export function isFsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && 'syscall' in (error as object);
}
