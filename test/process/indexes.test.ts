import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listIndexes } from '../../db/index-reconciler.js';
import { CORE_INDEXES, ensureIndexes } from '../../db/indexes.js';
import { DUPLICATE_USER_LINE, userDoc } from '../support/prepared-database.js';
import { runScript } from '../support/processes.js';
import { openTestDatabase, type TestDatabase } from '../support/test-db.js';

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
describe('indexes at start and npm run db:check (#13 item 2)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await openTestDatabase(undefined, { indexes: false });
  });
  afterEach(async () => {
    await db.dispose();
  });

  const env = () => ({ MONGODB_URI: db.uri, MONGODB_DB: db.dbName });

  /** Every collection's indexes and the collections themselves, to prove nothing changed. */
  async function snapshot(): Promise<unknown> {
    const collections = (await db.db.listCollections({}, { nameOnly: true }).toArray())
      .map((info) => info.name)
      .sort();
    const names = [
      ...new Set([...collections, ...CORE_INDEXES.map((definition) => definition.collection)]),
    ].sort();
    return {
      collections,
      indexes: Object.fromEntries(
        await Promise.all(names.map(async (name) => [name, await listIndexes(db.db, name)] as const)),
      ),
    };
  }

  it('npm start refuses duplicates blocking a unique index: exit 1, one stderr line, no stack', async () => {
    await db.collections.users.insertMany([userDoc(12345), userDoc(12345), userDoc(2)]);
    const result = await runScript('src/main.ts', [], { env: { BOT_TOKEN: TOKEN, ...env() } });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([DUPLICATE_USER_LINE]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect((await listIndexes(db.db, 'users')).map((index) => index.name)).toEqual(['_id_']);
  });

  it('db:check prints what start-up would change, changes nothing, exits 0', async () => {
    await db.db.collection('users').createIndex({ user_id: 1 }, { unique: true, name: 'user_id_1' });
    await db.db.collection('users').createIndex({ username: 1 }, { name: 'username_1' });
    await db.db
      .collection('scheduler_runs')
      .createIndex({ expire_at: 1 }, { name: 'expire_at_ttl', expireAfterSeconds: 3600 });
    await db.db.collection('tokens').createIndex({ token: 1 }, { name: 'token_unique' });
    await db.collections.users.insertMany([userDoc(1), userDoc(2)]);
    const before = await snapshot();

    const result = await runScript('src/db-check.ts', [], { env: env() });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'ok       users.user_id_unique: served by the equivalent index user_id_1, kept as it is',
        'extra    users.username_1 {username: 1}: not declared by the bot, left alone',
        'modify   scheduler_runs.expire_at_ttl: expireAfterSeconds 3600 -> 0 (collMod, in place)',
        'rebuild  tokens.token_unique: unique changed (drop, then build)',
        'create   users.chat_id {chat_id: 1}',
        'create   scheduler_runs.one_running_per_job {job: 1} unique partial {"status":"running"}',
      ]),
    );
    expect(lines.at(-1)).toMatch(/^start-up would make \d+ change\(s\); nothing was changed$/);
    expect(await snapshot()).toEqual(before);
  });

  it('db:check names the duplicates that would stop the start and exits 1, changing nothing', async () => {
    await db.collections.users.insertMany([userDoc(12345), userDoc(12345)]);
    const before = await snapshot();
    const result = await runScript('src/db-check.ts', [], { env: env() });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`FAIL     ${DUPLICATE_USER_LINE}`);
    expect(result.stdout.trim().split('\n').at(-1)).toBe(
      'start-up would stop: 1 unique index(es) blocked by duplicates',
    );
    expect(await snapshot()).toEqual(before);
  });

  it('db:check finds nothing to do after a start, and needs MONGODB_URI', async () => {
    await ensureIndexes(db.db);
    const result = await runScript('src/db-check.ts', [], { env: env() });
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('start-up would change nothing');

    const unset = await runScript('src/db-check.ts', [], { env: { MONGODB_DB: db.dbName } });
    expect(unset.code).toBe(1);
    expect(unset.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^MONGODB_URI is not set/)]);
  });
});
