import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Binary, BSON, Decimal128, type Document, Double, Int32, Long, ObjectId, UUID } from 'mongodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXACT_TYPES, restoreBackup, verifyBackup } from '../../../db/backup/restore.js';
import { openWriteExclusive } from '../../../db/backup/writer.js';
import { type BackupDeps, backupDatabase } from '../../../schedulers/jobs/backup.js';
import type { JobDeps } from '../../../schedulers/jobs/deps.js';
import { startJobHarness } from '../../support/job-harness.js';
import { captureLogs } from '../../support/logs.js';
import { openTestDatabase, type TestDatabase } from '../../support/test-db.js';

const NOW = new Date('2026-03-10T03:30:00.000Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

/** One document holding every BSON type the bot (or an operator) may store. */
function everyType(): Document {
  return {
    _id: new ObjectId('65f0a1b2c3d4e5f601234567'),
    int32: new Int32(7),
    doubleWhole: new Double(2),
    doubleFraction: new Double(3.25),
    longSmall: Long.fromNumber(5),
    longBig: Long.fromString('9007199254740993'),
    decimal: Decimal128.fromString('1234.5678901234567890123'),
    date: new Date('2026-01-02T03:04:05.678Z'),
    binary: new Binary(Buffer.from([0, 1, 2, 254, 255]), 0),
    uuid: new UUID('0f3c5a52-8e2b-4a8f-9d55-6f2e7e0c1a2b'),
    nested: { a: [new Int32(1), 'x', { b: null, c: true }], d: { e: false, f: new Date(0) } },
    emptyArray: [],
    nothing: null,
    yes: true,
    no: false,
    text: 'héllo wörld – 日本語 🎉 \u0000 inside',
  };
}

const canonical = (docs: Document[]) => docs.map((doc) => BSON.EJSON.stringify(doc, { relaxed: false }));

async function readAll(db: TestDatabase['db'], name: string): Promise<string[]> {
  return canonical(
    await db
      .collection(name)
      .find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false })
      .sort({ _id: 1 })
      .toArray(),
  );
}

async function indexesOf(db: TestDatabase['db'], name: string) {
  const indexes = await db.collection(name).listIndexes().toArray();
  return indexes
    .map((index) => ({
      key: index.key,
      name: index.name,
      unique: index.unique,
      partialFilterExpression: index.partialFilterExpression,
      expireAfterSeconds: index.expireAfterSeconds,
    }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

describe('backup job', () => {
  let source: TestDatabase;
  let dir: string;
  const logs = captureLogs();
  const input = (now: Date, extra: { dryRun?: boolean } = {}) => ({
    now,
    clock: () => now,
    signal: new AbortController().signal,
    logger: logs.logger,
    dryRun: extra.dryRun ?? false,
    confirmClaim: async () => {},
  });
  // The job reads only `backup` and, when sending, `api`: the other dependencies stay out.
  const depsWith = (backup: Partial<BackupDeps> = {}) =>
    ({
      backup: { db: source.db, dir, keep: 7, sendToAdmins: false, adminIds: [], ...backup },
    }) as unknown as JobDeps;

  beforeAll(async () => {
    source = await openTestDatabase('backup-source', { indexes: false });
  });
  afterAll(async () => {
    await source.dispose();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'backups-'));
    await source.db.dropDatabase();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function seed(): Promise<void> {
    const typed = source.db.collection('typed');
    await typed.insertMany([
      everyType(),
      {
        _id: new ObjectId('65f0a1b2c3d4e5f601234568'),
        email: 'a@example.com',
        status: 'active',
        expires: new Date('2099-01-01T00:00:00Z'),
      },
      {
        _id: new ObjectId('65f0a1b2c3d4e5f601234569'),
        email: 'b@example.com',
        status: 'gone',
        expires: new Date('2099-02-01T00:00:00Z'),
      },
    ]);
    await typed.createIndex({ email: 1 }, { name: 'email_unique', unique: true, sparse: true });
    await typed.createIndex(
      { status: 1, expires: -1 },
      { name: 'active_by_expiry', partialFilterExpression: { status: { $eq: 'active' } } },
    );
    await typed.createIndex({ expires: 1 }, { name: 'expires_ttl', expireAfterSeconds: 3600 });
    await source.db.collection('empty').createIndex({ n: 1 }, { name: 'n_1' });
    await source.db
      .collection<{ _id: number; n: Int32; label: string }>('many')
      .insertMany(Array.from({ length: 2_500 }, (_, i) => ({ _id: i, n: new Int32(i), label: `doc ${i}` })));
  }

  it('writes the mongodump --gzip layout with a manifest, and a restore reproduces every document and index in another database', async () => {
    await seed();
    const result = await backupDatabase(depsWith(), input(NOW));
    expect(result).toMatchObject({ collections: 3, documents: 2_503, removed: 0, sent: 0, sendFailed: 0 });

    const name = '2026-03-10T03-30-00.000Z';
    expect(await readdir(dir)).toEqual([name]);
    const backup = join(dir, name);
    expect((await readdir(join(backup, source.dbName))).sort()).toEqual([
      'empty.bson.gz',
      'empty.metadata.json.gz',
      'many.bson.gz',
      'many.metadata.json.gz',
      'typed.bson.gz',
      'typed.metadata.json.gz',
    ]);
    const manifest = JSON.parse(await readFile(join(backup, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'telegram-bot-backup', version: 1, database: source.dbName });
    expect(
      manifest.collections.map((c: { name: string; documents: number }) => [c.name, c.documents]),
    ).toEqual([
      ['empty', 0],
      ['many', 2_500],
      ['typed', 3],
    ]);
    const files = await readdir(join(backup, source.dbName));
    const onDisk = (await Promise.all(files.map((f) => readFile(join(backup, source.dbName, f))))).reduce(
      (sum, b) => sum + b.length,
      0,
    );
    expect(result.bytesWritten).toBe(onDisk + (await readFile(join(backup, 'manifest.json'))).length);

    // Metadata as mongodump writes it: canonical Extended JSON, indexes with v, key and name.
    const metadataText = gunzipSync(
      await readFile(join(backup, source.dbName, 'typed.metadata.json.gz')),
    ).toString();
    const metadata = JSON.parse(metadataText);
    expect(Object.keys(metadata)).toEqual(['indexes', 'uuid', 'collectionName', 'type', 'options']);
    expect(metadata).toMatchObject({ collectionName: 'typed', type: 'collection', options: {} });
    expect(metadata.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(metadata.indexes[0]).toEqual({
      v: { $numberInt: '2' },
      key: { _id: { $numberInt: '1' } },
      name: '_id_',
    });
    expect(metadata.indexes.find((index: Document) => index.name === 'expires_ttl')).toMatchObject({
      key: { expires: { $numberInt: '1' } },
      expireAfterSeconds: { $numberInt: '3600' },
    });

    // The documents file is the server's BSON, concatenated: every document as stored.
    const bson = gunzipSync(await readFile(join(backup, source.dbName, 'typed.bson.gz')));
    const first = bson.subarray(0, bson.readInt32LE(0));
    expect(BSON.EJSON.stringify(BSON.deserialize(first, EXACT_TYPES), { relaxed: false })).toBe(
      (await readAll(source.db, 'typed'))[0],
    );

    const target = await source.connectAnother();
    const targetDb = target.client.db(`${source.dbName}_r`);
    try {
      await targetDb
        .collection<{ _id: string; stale: boolean }>('typed')
        .insertOne({ _id: 'left over', stale: true });
      const summary = await restoreBackup({
        db: targetDb,
        backup: await verifyBackup(backup),
        drop: true,
        batchSize: 400,
      });
      expect(summary).toEqual({ collections: 3, documents: 2_503, indexes: 4 });
      for (const collection of ['typed', 'many', 'empty']) {
        expect(await readAll(targetDb, collection)).toEqual(await readAll(source.db, collection));
        expect(await indexesOf(targetDb, collection)).toEqual(await indexesOf(source.db, collection));
      }
      // The types themselves, as the target database returns them.
      const restored = await targetDb
        .collection('typed')
        .findOne({ _id: new ObjectId('65f0a1b2c3d4e5f601234567') }, { promoteValues: false });
      expect(restored?.decimal).toBeInstanceOf(Decimal128);
      expect(restored?.longBig).toBeInstanceOf(Long);
      expect(String(restored?.longBig)).toBe('9007199254740993');
      expect(restored?.date).toEqual(new Date('2026-01-02T03:04:05.678Z'));
      expect(restored?.binary).toBeInstanceOf(Binary);
      expect((restored?.uuid as Binary | undefined)?.sub_type).toBe(4);
      expect(restored?.text).toBe('héllo wörld – 日本語 🎉 \u0000 inside');
      expect(await indexesOf(targetDb, 'typed')).toContainEqual({
        key: { status: 1, expires: -1 },
        name: 'active_by_expiry',
        unique: undefined,
        partialFilterExpression: { status: { $eq: 'active' } },
        expireAfterSeconds: undefined,
      });
    } finally {
      await targetDb.dropDatabase();
    }
  });

  it("decodes documents for a restore with their exact types: re-encoding gives the file's bytes", () => {
    // Int32 vs Double 2.0, small Longs: a decoder that promotes numbers would change these bytes.
    const bytes = Buffer.from(BSON.serialize(everyType()));
    const decoded = BSON.deserialize(bytes, EXACT_TYPES);
    expect(decoded.doubleWhole).toBeInstanceOf(Double);
    expect(decoded.longSmall).toBeInstanceOf(Long);
    expect(decoded.int32).toBeInstanceOf(Int32);
    expect(Buffer.from(BSON.serialize(decoded)).equals(bytes)).toBe(true);
  });

  it('keeps exactly BACKUP_KEEP backups, the newest, and touches nothing that is not ours', async () => {
    await source.db.collection('one').insertOne({ n: 1 });
    await mkdir(join(dir, 'operator-notes'));
    await writeFile(join(dir, 'README'), 'not a backup');
    // A crashed run's leftovers: one two days old (removed), one from an hour ago (may be running elsewhere).
    await mkdir(join(dir, '.2026-03-08T03-30-00.000Z.partial'));
    await mkdir(join(dir, '.2026-03-10T02-30-00.000Z.partial'));

    const runs = Array.from({ length: 6 }, (_, i) => minutes(i * 60));
    const removed: number[] = [];
    for (const at of runs) removed.push((await backupDatabase(depsWith({ keep: 3 }), input(at))).removed);

    expect((await readdir(dir)).sort()).toEqual([
      '.2026-03-10T02-30-00.000Z.partial',
      '2026-03-10T06-30-00.000Z',
      '2026-03-10T07-30-00.000Z',
      '2026-03-10T08-30-00.000Z',
      'README',
      'operator-notes',
    ]);
    // The first run removed the stale partial; runs four to six each removed the oldest backup.
    expect(removed).toEqual([1, 0, 0, 1, 1, 1]);
  });

  it('fails with a clear error when BACKUP_DIR cannot be created, and writes nothing', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    const target = join(file, 'backups');
    await expect(backupDatabase(depsWith({ dir: target }), input(NOW))).rejects.toThrow(
      `cannot write backups to ${target}: a part of the path is not a directory (ENOTDIR)`,
    );
    expect(await readdir(dir)).toEqual(['plain-file']);
  });

  // As root, permissions do not stop writes (the ENOTDIR case above covers an unwritable path then).
  it.skipIf(process.getuid?.() === 0)(
    'fails with "permission denied" on a directory it may not write',
    async () => {
      const locked = join(dir, 'locked');
      await mkdir(locked, { mode: 0o500 });
      await expect(backupDatabase(depsWith({ dir: locked }), input(NOW))).rejects.toThrow(
        `cannot write backups to ${locked}: permission denied (EACCES)`,
      );
      expect(await readdir(locked)).toEqual([]);
    },
  );

  it.skipIf(!existsSync('/dev/full'))(
    'a full disk fails the run, removes the unfinished backup and leaves earlier backups untouched',
    async () => {
      await source.db.collection('a').insertOne({ n: 1 });
      await source.db.collection('b').insertMany(Array.from({ length: 100 }, (_, i) => ({ i })));
      await backupDatabase(depsWith(), input(NOW));
      const earlier = join(dir, '2026-03-10T03-30-00.000Z');
      const before = await readFile(join(earlier, 'manifest.json'), 'utf8');

      // /dev/full answers every write with ENOSPC, as a full disk does; used for collection b's data.
      const openWrite = (path: string) =>
        path.endsWith('b.bson.gz') ? createWriteStream('/dev/full') : openWriteExclusive(path);
      await expect(backupDatabase(depsWith({ openWrite }), input(minutes(60)))).rejects.toThrow(
        `cannot write backups to ${dir}: no space left on device (ENOSPC)`,
      );
      expect(await readdir(dir)).toEqual(['2026-03-10T03-30-00.000Z']);
      expect(await readFile(join(earlier, 'manifest.json'), 'utf8')).toBe(before);
    },
  );

  it('a dry run writes nothing and counts what it would back up', async () => {
    await source.db.collection('x').insertMany([{ a: 1 }, { a: 2 }]);
    expect(await backupDatabase(depsWith(), input(NOW, { dryRun: true }))).toMatchObject({
      collections: 1,
      documents: 2,
      bytesWritten: 0,
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it("tells the admins where the backup is instead of sending one over Telegram's limit", async () => {
    await source.db.collection('x').insertMany(Array.from({ length: 50 }, (_, i) => ({ i })));
    const harness = await startJobHarness(source, { backupDir: dir });
    try {
      harness.fake.addChat(7001, { user: { id: 7001, first_name: 'Admin' } });
      Object.assign(harness.deps.backup, { sendToAdmins: true, adminIds: [7001], uploadLimitBytes: 1_000 });
      const result = await backupDatabase(harness.deps, harness.input(NOW));
      expect(result).toMatchObject({ collections: 1, documents: 50, sent: 0, sendFailed: 0 });
      expect(harness.fake.documents()).toEqual([]);
      const name = '2026-03-10T03-30-00.000Z';
      expect(harness.fake.messages(7001).map((message) => message.text)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Backup ${name} is in ${join(dir, name)} on the server\\. It was not sent here: packed it is .* KB, over Telegram's 1000 B limit for bots\\.$`,
          ),
        ),
      ]);
      // The packed copy was temporary.
      expect(await readdir(dir)).toEqual([name]);
    } finally {
      await harness.close();
    }
  });

  it('sends the packed backup to each admin within the limit (through the bulk lane)', async () => {
    await source.db.collection('x').insertOne({ i: 1 });
    const harness = await startJobHarness(source, { backupDir: dir });
    try {
      harness.fake.addChat(7001, { user: { id: 7001, first_name: 'Admin' } });
      Object.assign(harness.deps.backup, { sendToAdmins: true, adminIds: [7001, 7404] });
      const result = await backupDatabase(harness.deps, harness.input(NOW));
      expect(result).toMatchObject({ sent: 1, sendFailed: 1 });
      expect(harness.fake.documents(7001).map((doc) => doc.fileName)).toEqual([
        'backup-2026-03-10T03-30-00.000Z.tar',
      ]);
      expect(harness.logs.messages()).toContain('backup: could not send the backup to an admin');
    } finally {
      await harness.close();
    }
  });
});
