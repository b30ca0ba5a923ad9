import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InputFile } from 'grammy';
import type { Db } from 'mongodb';
import { pack as tarPack } from 'tar-stream';
import { describeFsError } from '../../db/backup/format.js';
import { type OpenWrite, pruneBackups, writeBackup } from '../../db/backup/writer.js';
import type { JobDeps, RunInput } from './deps.js';

/** Telegram's limit for files a bot uploads (https://core.telegram.org/bots/api#senddocument). */
export const TELEGRAM_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024;

/** What the backup job needs beyond the other jobs' dependencies. */
export interface BackupDeps {
  /** The bot's database (every collection of it is written). */
  db: Db;
  /** BACKUP_DIR */
  dir: string;
  /** BACKUP_KEEP: complete backups kept, newest first. */
  keep: number;
  /** BACKUP_SEND_TO_ADMINS: also send each backup, as one .tar, to every admin. */
  sendToAdmins: boolean;
  adminIds: readonly number[];
  /** Telegram's upload limit (tests lower it). */
  uploadLimitBytes?: number;
  /** How files are opened for writing (tests inject a failing one). */
  openWrite?: OpenWrite;
}

/** The run's numbers (the backup's directory is in the log line 'backup written'). */
export interface BackupResult {
  [field: string]: number;
  collections: number;
  documents: number;
  /** Uncompressed BSON read from the database. */
  bsonBytes: number;
  /** On disk: gzip files plus manifest. */
  bytesWritten: number;
  durationMs: number;
  /** Older backups removed by retention (and stale unfinished ones of ours). */
  removed: number;
  /** Admins the backup reached as a document, and sends that failed. */
  sent: number;
  sendFailed: number;
}

/**
 * The `backup` job: every collection of the bot's database in mongodump's --gzip layout under
 * BACKUP_DIR/<timestamp>/, then retention, then (optionally) a copy to the admins. A dry run
 * writes nothing and reports what it would back up.
 */
export async function backupDatabase(deps: JobDeps, input: RunInput): Promise<BackupResult> {
  const settings = deps.backup;
  const started = Date.now();
  if (input.dryRun) {
    const names = (await settings.db.listCollections({}, { nameOnly: true }).toArray())
      .map((info) => info.name)
      .filter((name) => !name.startsWith('system.'));
    let documents = 0;
    for (const name of names) documents += await settings.db.collection(name).estimatedDocumentCount();
    return {
      collections: names.length,
      documents,
      bsonBytes: 0,
      bytesWritten: 0,
      durationMs: Date.now() - started,
      removed: 0,
      sent: 0,
      sendFailed: 0,
    };
  }
  await input.confirmClaim();
  const summary = await writeBackup({
    db: settings.db,
    dir: settings.dir,
    now: input.now,
    signal: input.signal,
    ...(settings.openWrite ? { openWrite: settings.openWrite } : {}),
    beforeCollection: () => input.confirmClaim(),
  });
  // The backup is complete at this point: a retention failure is logged, not a failed run (a retry
  // would find its backup already there).
  const retention = await pruneBackups(settings.dir, settings.keep, input.now).catch((error: unknown) => {
    input.logger.error({ err: error, dir: settings.dir }, 'backup: could not remove old backups');
    return { kept: [], removed: [], removedPartial: [] };
  });
  input.logger.info(
    {
      backup: summary.path,
      collections: summary.collections,
      documents: summary.documents,
      bytesWritten: summary.bytesWritten,
      removed: retention.removed,
      removedPartial: retention.removedPartial,
    },
    'backup written',
  );
  let sent = 0;
  let sendFailed = 0;
  if (settings.sendToAdmins && settings.adminIds.length > 0) {
    ({ sent, sendFailed } = await sendToAdmins(deps, input, summary.path, summary.name));
  }
  return {
    collections: summary.collections,
    documents: summary.documents,
    bsonBytes: summary.bsonBytes,
    bytesWritten: summary.bytesWritten,
    durationMs: Date.now() - started,
    removed: retention.removed.length + retention.removedPartial.length,
    sent,
    sendFailed,
  };
}

/** Packs the backup directory into one tar file, streamed (no file is held in memory). */
export async function packBackup(backupPath: string, name: string, tarPath: string): Promise<number> {
  const files = await listFiles(backupPath);
  const archive = tarPack();
  const writing = pipeline(archive, createWriteStream(tarPath, { flags: 'wx' }));
  for (const file of files) {
    const { size, mtime } = await stat(file);
    const entryName = posix.join(name, relative(backupPath, file).split(sep).join('/'));
    const entry = archive.entry({ name: entryName, size, mtime, mode: 0o644 });
    await pipeline(createReadStream(file), entry);
  }
  archive.finalize();
  await writing;
  return (await stat(tarPath)).size;
}

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(full)));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

async function sendToAdmins(
  deps: JobDeps,
  input: RunInput,
  backupPath: string,
  name: string,
): Promise<{ sent: number; sendFailed: number }> {
  const settings = deps.backup;
  const limit = settings.uploadLimitBytes ?? TELEGRAM_UPLOAD_LIMIT_BYTES;
  const tarPath = join(settings.dir, `.${name}.tar`);
  let sent = 0;
  let sendFailed = 0;
  try {
    let size: number;
    try {
      size = await packBackup(backupPath, name, tarPath);
    } catch (error) {
      input.logger.error({ err: error }, 'backup: could not pack the backup for the admins');
      const why = `it could not be packed: ${describeFsError(error)}`;
      return await notifyAdmins(deps, input, `Backup ${name} is in ${backupPath} on the server; ${why}.`);
    }
    if (size > limit) {
      return await notifyAdmins(
        deps,
        input,
        `Backup ${name} is in ${backupPath} on the server. It was not sent here: packed it is ${formatBytes(size)}, over Telegram's ${formatBytes(limit)} limit for bots.`,
      );
    }
    for (const adminId of settings.adminIds) {
      input.signal.throwIfAborted();
      try {
        await deps.api.sendDocument(adminId, new InputFile(tarPath, `backup-${name}.tar`), {
          caption: `Backup ${name} (${formatBytes(size)}); restore with npm run restore -- <dir> after unpacking`,
        });
        sent += 1;
      } catch (error) {
        sendFailed += 1;
        input.logger.warn({ err: error, adminId }, 'backup: could not send the backup to an admin');
      }
    }
    return { sent, sendFailed };
  } finally {
    await rm(tarPath, { force: true }).catch(() => undefined);
  }
}

async function notifyAdmins(
  deps: JobDeps,
  input: RunInput,
  text: string,
): Promise<{ sent: number; sendFailed: number }> {
  let sendFailed = 0;
  for (const adminId of deps.backup.adminIds) {
    try {
      await deps.api.sendMessage(adminId, text);
    } catch (error) {
      sendFailed += 1;
      input.logger.warn({ err: error, adminId }, 'backup: could not tell an admin where the backup is');
    }
  }
  return { sent: 0, sendFailed };
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
