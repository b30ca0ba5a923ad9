import { BackupRefusedError, restoreBackup, verifyBackup } from '../db/backup/restore.js';
import { connectDatabase, type Database } from '../db/client.js';
import { databaseSettingsForTool } from './config.js';
import { createRedactor, maskUri } from './redact.js';

/**
 * Restores a backup written by the `backup` job into MONGODB_URI / MONGODB_DB:
 *
 *   npm run restore -- <backup dir> [--drop]
 *
 * <backup dir> is one backup (BACKUP_DIR/<timestamp>). Before touching the database it checks the
 * manifest and every file (size, SHA-256, gzip, BSON framing, document counts); a partial, corrupt
 * or foreign directory is refused with one line and exit 1, and nothing is changed. Without
 * --drop a collection that already holds documents refuses the restore (checked for all of them
 * before anything is written); with --drop each collection is dropped and restored. The backup's
 * database name may differ from MONGODB_DB: the configured database is the one written.
 * Prints one summary line; exit 0.
 */

const USAGE = 'usage: npm run restore -- <backup dir> [--drop]';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const flags = argv.filter((arg) => arg.startsWith('--'));
  const positional = argv.filter((arg) => !arg.startsWith('--'));
  const unknown = flags.find((flag) => flag !== '--drop');
  if (unknown) {
    console.error(`unknown option "${unknown}"\n${USAGE}`);
    return 1;
  }
  if (positional.length !== 1) {
    console.error(USAGE);
    return 1;
  }
  const drop = flags.includes('--drop');
  const settings = databaseSettingsForTool(
    'restore writes into the database MONGODB_URI and MONGODB_DB name',
  );
  if (!settings) return 1;
  const redact = createRedactor([settings.uri]);

  let backup: Awaited<ReturnType<typeof verifyBackup>>;
  try {
    backup = await verifyBackup(positional[0] as string);
  } catch (error) {
    console.error(
      error instanceof BackupRefusedError ? error.message : `cannot check the backup: ${String(error)}`,
    );
    return 1;
  }

  let database: Database;
  try {
    database = await connectDatabase({ uri: settings.uri, dbName: settings.dbName, appName: 'restore' });
  } catch (error) {
    console.error(redact(error instanceof Error ? error.message : String(error)));
    return 1;
  }
  const started = Date.now();
  try {
    const summary = await restoreBackup({ db: database.db, backup, drop });
    console.log(
      `restored ${summary.documents} document(s) in ${summary.collections} collection(s) with ${summary.indexes} index(es) from ${backup.path} (database ${backup.manifest.database}) into ${settings.dbName} at ${maskUri(settings.uri)} in ${((Date.now() - started) / 1000).toFixed(1)} s${drop ? ' (collections dropped first)' : ''}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof BackupRefusedError) console.error(error.message);
    else console.error(redact(`restore failed: ${error instanceof Error ? error.message : String(error)}`));
    return 1;
  } finally {
    await database.close();
  }
}

process.exit(await main());
