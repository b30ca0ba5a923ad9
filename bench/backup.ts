/**
 * npm run bench:backup [-- --docs N]
 *
 * The backup job's memory and speed on a big collection: seeds N small documents (default
 * 1,000,000, insertMany in batches of 10,000) into a fresh database (MongoDB at MONGODB_URI when
 * set, else the project's emulator in its own process), then a separate process (this file with
 * `--measure`) connects, settles, takes its idle RSS, runs the backup writer into a temporary
 * BACKUP_DIR while sampling RSS every 20 ms, and reports the peak above idle, the time and the
 * bytes written; then restores that backup into another database (verification included) and
 * reports the same for the restore. Prints one JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { restoreBackup, verifyBackup } from '../db/backup/restore.js';
import { writeBackup } from '../db/backup/writer.js';
import { ROOT, startService, stopService } from './processes.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '1000000' },
    measure: { type: 'boolean', default: false },
    uri: { type: 'string' },
    db: { type: 'string' },
  },
});

async function measure(uri: string, dbName: string): Promise<void> {
  const client = new MongoClient(uri);
  await client.connect();
  const db = client.db(dbName);
  await db.command({ ping: 1 });
  const dir = await mkdtemp(join(tmpdir(), 'bench-backup-'));
  // Idle: connected, code loaded, heap settled.
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idleRss = process.memoryUsage.rss();
  let peakRss = idleRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const started = performance.now();
  try {
    const summary = await writeBackup({ db, dir, now: new Date() });
    const durationMs = Math.round(performance.now() - started);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const backupPeakRss = peakRss;

    // Then the restore of that backup into another database (verification pass included).
    global.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const restoreIdleRss = process.memoryUsage.rss();
    peakRss = restoreIdleRss;
    const restoreStarted = performance.now();
    const target = client.db(`${dbName}_restored`);
    const restored = await restoreBackup({
      db: target,
      backup: await verifyBackup(summary.path),
      drop: true,
    });
    const restoreMs = Math.round(performance.now() - restoreStarted);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    await target.dropDatabase();
    console.log(
      JSON.stringify({
        documents: summary.documents,
        collections: summary.collections,
        bsonBytes: summary.bsonBytes,
        bytesWritten: summary.bytesWritten,
        durationMs,
        docsPerSecond: Math.round(summary.documents / (durationMs / 1000)),
        idleRssMb: +(idleRss / 1048576).toFixed(1),
        peakRssMb: +(backupPeakRss / 1048576).toFixed(1),
        peakAboveIdleMb: +((backupPeakRss - idleRss) / 1048576).toFixed(1),
        restore: {
          documents: restored.documents,
          durationMs: restoreMs,
          idleRssMb: +(restoreIdleRss / 1048576).toFixed(1),
          peakRssMb: +(peakRss / 1048576).toFixed(1),
          peakAboveIdleMb: +((peakRss - restoreIdleRss) / 1048576).toFixed(1),
        },
      }),
    );
  } finally {
    clearInterval(sampler);
    await rm(dir, { recursive: true, force: true });
    await client.close();
  }
}

async function main(): Promise<void> {
  if (values.measure) return measure(values.uri as string, values.db as string);
  const docs = Number(values.docs);
  if (!Number.isInteger(docs) || docs < 1) throw new Error('--docs must be a positive whole number');
  let emulator: ChildProcess | undefined;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    const service = await startService('test/support/mongo-emulator/cli.ts', ['--port', '0']);
    emulator = service.child;
    uri = service.line.trim();
  }
  const dbName = `bench_backup_${Date.now()}`;
  const client = new MongoClient(uri);
  try {
    await client.connect();
    const collection = client.db(dbName).collection('small');
    const seedStarted = performance.now();
    for (let from = 0; from < docs; from += 10_000) {
      const batch = [];
      for (let i = from; i < Math.min(docs, from + 10_000); i++) {
        batch.push({
          user_id: i,
          status: i % 3 === 0 ? 'verified' : 'unused',
          at: new Date(1_700_000_000_000 + i),
        });
      }
      await collection.insertMany(batch, { ordered: false });
    }
    console.error(`seeded ${docs} documents in ${Math.round(performance.now() - seedStarted)} ms`);
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        join(ROOT, 'bench/backup.ts'),
        '--measure',
        '--uri',
        uri,
        '--db',
        dbName,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the measuring process exited with ${code}`);
    const figures = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    console.log(
      JSON.stringify({
        ...figures,
        database: emulator ? 'project MongoDB emulator (separate process)' : 'MONGODB_URI',
      }),
    );
    await client.db(dbName).dropDatabase();
  } finally {
    await client.close();
    if (emulator) await stopService(emulator);
  }
}

await main();
