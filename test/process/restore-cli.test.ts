import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BSON, type Db, Decimal128, Long } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeBackup } from '../../db/backup/writer.js';
import { PROJECT_ROOT, type ProcessResult, runScript, startProgram } from '../support/processes.js';
import { openTestDatabase, type TestDatabase } from '../support/test-db.js';

/** Every collection and document of a database, in canonical Extended JSON, to see that nothing changed. */
async function snapshot(db: Db): Promise<Record<string, string[]>> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const result: Record<string, string[]> = {};
  for (const name of names) {
    const docs = await db.collection(name).find({}, { promoteValues: false }).sort({ _id: 1 }).toArray();
    result[name] = docs.map((doc) => BSON.EJSON.stringify(doc, { relaxed: false }));
  }
  return result;
}

describe('npm run restore (command line)', () => {
  let source: TestDatabase;
  let target: Db;
  let targetName: string;
  let root: string;
  let backup: string;

  beforeAll(async () => {
    source = await openTestDatabase('restore-cli-source', { indexes: false });
    await source.db.collection('alpha').insertMany(
      Array.from({ length: 300 }, (_, i) => ({
        i,
        big: Long.fromString('9007199254740993'),
        d: Decimal128.fromString('0.1'),
      })),
    );
    await source.db.collection('alpha').createIndex({ i: 1 }, { unique: true, name: 'i_unique' });
    await source.db.collection('zulu').insertMany([{ z: 1 }, { z: 2 }]);
    root = await mkdtemp(join(tmpdir(), 'restore-cli-'));
    const summary = await writeBackup({ db: source.db, dir: root, now: new Date('2026-03-10T03:30:00Z') });
    backup = summary.path;
    targetName = `${source.dbName}_t`;
    target = source.client.db(targetName);
  });
  afterAll(async () => {
    await target.dropDatabase();
    await source.dispose();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await target.dropDatabase();
    // What an operator's database holds before a restore is attempted.
    await target.collection('zulu').insertOne({ already: 'here' });
  });

  const env = () => ({ MONGODB_URI: source.uri, MONGODB_DB: targetName });
  const restore = (...args: string[]) => runScript('src/restore-cli.ts', args, { env: env() });
  /** A copy of the good backup to damage. */
  const copyOfBackup = async (name = 'copy') => {
    const copy = join(root, name);
    await rm(copy, { recursive: true, force: true });
    await cp(backup, copy, { recursive: true });
    return copy;
  };
  const dataFile = (dir: string, collection: string) => join(dir, source.dbName, `${collection}.bson.gz`);

  async function expectRefusedUnchanged(result: ProcessResult, reason: RegExp) {
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(reason);
    expect(result.stdout).toBe('');
    expect(await snapshot(target)).toEqual({ zulu: [expect.stringContaining('"already":"here"')] });
  }

  it('restores with --drop into another database (through npm): documents, types and indexes', async () => {
    const result = await new Promise<ProcessResult>((resolve) => {
      const running = startProgram('npm', ['run', '--silent', 'restore', '--', backup, '--drop'], {
        cwd: PROJECT_ROOT,
        env: env(),
      });
      void running.exited.then(resolve);
    });
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.stdout).toMatch(
      new RegExp(
        `^restored 302 document\\(s\\) in 2 collection\\(s\\) with 1 index\\(es\\) from .* into ${targetName} `,
      ),
    );
    expect(await snapshot(target)).toEqual(await snapshot(source.db));
    const index = (await target.collection('alpha').listIndexes().toArray()).find(
      (i) => i.name === 'i_unique',
    );
    expect(index).toMatchObject({ key: { i: 1 }, unique: true });
  });

  it('refuses, without --drop, a database whose collections already hold documents; nothing is written', async () => {
    // alpha comes first and is empty: a restore that checked collection by collection would write it.
    await expectRefusedUnchanged(
      await restore(backup),
      /^refusing to restore into .*: collection\(s\) zulu already hold documents \(use --drop to replace them\)$/,
    );
  });

  it('refuses a backup with a flipped byte in a .bson.gz (checksum) and changes nothing', async () => {
    const copy = await copyOfBackup();
    const file = dataFile(copy, 'zulu');
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await writeFile(file, bytes);
    await expectRefusedUnchanged(
      await restore(copy, '--drop'),
      /^refusing to restore .*copy: .*zulu\.bson\.gz is corrupt \(SHA-256 mismatch\)$/,
    );
  });

  it('refuses truncated BSON even when the manifest was made to match it', async () => {
    const copy = await copyOfBackup();
    const file = dataFile(copy, 'alpha');
    const { gunzipSync } = await import('node:zlib');
    const raw = gunzipSync(await readFile(file));
    const damaged = gzipSync(raw.subarray(0, raw.length - 10));
    await writeFile(file, damaged);
    const manifestPath = join(copy, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const entry = manifest.collections.find((c: { name: string }) => c.name === 'alpha');
    entry.data.bytes = damaged.length;
    entry.data.sha256 = createHash('sha256').update(damaged).digest('hex');
    await writeFile(manifestPath, JSON.stringify(manifest));
    await expectRefusedUnchanged(await restore(copy, '--drop'), /alpha\.bson\.gz is corrupt: truncated BSON/);
  });

  it('refuses a directory without a manifest (foreign, or not finished)', async () => {
    const copy = await copyOfBackup();
    await rm(join(copy, 'manifest.json'));
    await expectRefusedUnchanged(
      await restore(copy, '--drop'),
      /^refusing to restore .*: no manifest\.json: not a backup of this bot, or an unfinished one$/,
    );
  });

  it('refuses an unfinished (.partial) backup and one with a missing file', async () => {
    const partial = await copyOfBackup('.2026-03-10T04-30-00.000Z.partial');
    await expectRefusedUnchanged(
      await restore(partial, '--drop'),
      /^refusing to restore .*\.partial: it is an unfinished backup \(\.partial\)$/,
    );
    const copy = await copyOfBackup();
    await rename(join(copy, source.dbName, 'zulu.metadata.json.gz'), join(copy, 'elsewhere'));
    await expectRefusedUnchanged(await restore(copy, '--drop'), /zulu\.metadata\.json\.gz is missing$/);
    const short = await copyOfBackup('short');
    await truncate(dataFile(short, 'alpha'), 20);
    await expectRefusedUnchanged(
      await restore(short, '--drop'),
      /alpha\.bson\.gz has 20 bytes, the manifest says \d+$/,
    );
  });

  it('prints its usage for a missing argument', async () => {
    const result = await restore();
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('usage: npm run restore -- <backup dir> [--drop]');
  });
});
