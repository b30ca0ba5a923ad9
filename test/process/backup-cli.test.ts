import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, type ProcessResult, startProgram } from '../support/processes.js';
import { useTestDatabase } from '../support/test-db.js';
import { useFakeBotApi } from '../support/use-fake-bot-api.js';

const lastLine = (result: ProcessResult) => JSON.parse(result.stdout.trim().split('\n').at(-1) ?? 'null');

async function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      files.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  Readable.from([bytes]).pipe(reader);
  await done;
  return files;
}

async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory())
      found.push(...(await filesUnder(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else found.push(`${prefix}${entry.name}`);
  }
  return found.sort();
}

describe('npm run backup (one run, with the claims of the scheduler)', () => {
  const db = useTestDatabase();
  const fake = useFakeBotApi('file');
  let dir: string;
  const admins = [7001, 7002];
  const goneAdmin = 7999;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'backup-cli-'));
    for (const id of admins) fake.addChat(id, { user: { id, first_name: `Admin${id}` } });
    await db().collections.users.insertMany(
      Array.from({ length: 50 }, (_, i) => ({
        user_id: i,
        chat_id: i,
        first_name: `U${i}`,
        last_name: null,
        username: null,
        joined_at: new Date(),
        last_seen_at: new Date(),
        blocked_at: null,
      })),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a backup, records the run, and sends the .tar to every admin; one failed send does not fail it', async () => {
    const result = await new Promise<ProcessResult>((resolve) => {
      void startProgram('npm', ['run', '--silent', 'backup'], {
        cwd: PROJECT_ROOT,
        env: {
          BOT_TOKEN: fake.token,
          TELEGRAM_API_ROOT: fake.apiRoot,
          MONGODB_URI: db().uri,
          MONGODB_DB: db().dbName,
          TELEGRAM_MAX_RPS: '500',
          ADMIN_IDS: [...admins, goneAdmin].join(','),
          BACKUP_DIR: dir,
          BACKUP_SEND_TO_ADMINS: 'true',
          JOB_RETRY_ATTEMPTS: '1',
        },
      }).exited.then(resolve);
    });
    expect(result.code, result.stderr).toBe(0);
    const outcome = lastLine(result);
    expect(outcome).toMatchObject({
      job: 'backup',
      status: 'succeeded',
      result: { sent: 2, sendFailed: 1, removed: 0 },
    });
    expect(outcome.result.documents).toBeGreaterThanOrEqual(50);
    expect(await db().db.collection('scheduler_runs').findOne({ job: 'backup' })).toMatchObject({
      status: 'succeeded',
      trigger: 'manual',
      requested_by: 'cli',
    });

    const [name, ...others] = await readdir(dir);
    expect(others).toEqual([]);
    expect(name).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/);
    const onDisk = await filesUnder(join(dir, name as string));
    expect(onDisk).toContain('manifest.json');
    expect(onDisk).toContain(`${db().dbName}/users.bson.gz`);

    for (const admin of admins) {
      const documents = fake.documents(admin);
      expect(documents).toHaveLength(1);
      expect(documents[0]?.fileName).toBe(`backup-${name}.tar`);
      const packed = await untar(documents[0]?.bytes as Buffer);
      expect([...packed.keys()].sort()).toEqual(onDisk.map((file) => `${name}/${file}`));
      for (const file of onDisk) {
        expect(packed.get(`${name}/${file}`)?.equals(await readFile(join(dir, name as string, file)))).toBe(
          true,
        );
      }
    }
    // The temporary .tar is gone.
    expect(await readdir(dir)).toEqual([name]);
  });
});
