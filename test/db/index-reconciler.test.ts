import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyIndexPlan,
  type IndexInfo,
  IndexReconcileError,
  planCollection,
  planIndexes,
  supportsCommitQuorum,
} from '../../db/index-reconciler.js';
import { CORE_INDEXES, ensureIndexes, type IndexDefinition } from '../../db/indexes.js';
import { captureLogs } from '../support/logs.js';
import { DUPLICATE_USER_LINE, userDoc } from '../support/prepared-database.js';
import { openTestDatabase, type TestDatabase } from '../support/test-db.js';

describe('index reconciliation against a prepared database', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await openTestDatabase(undefined, { indexes: false });
  });
  afterEach(async () => {
    await db.dispose();
  });

  const indexesOf = async (collection: string): Promise<IndexInfo[]> =>
    (await db.db.collection(collection).listIndexes().toArray()) as IndexInfo[];

  it('builds every declared index on an empty database, then finds nothing to change', async () => {
    const { logger, records } = captureLogs();
    const first = await ensureIndexes(db.db, CORE_INDEXES, { logger });
    expect(first.created).toHaveLength(CORE_INDEXES.length);
    const builds = records().filter((record) => record.msg === 'index build finished');
    expect(builds).toHaveLength(CORE_INDEXES.length);
    expect(builds[0]).toMatchObject({ durationMs: expect.any(Number) });
    const second = await ensureIndexes(db.db);
    expect(second).toMatchObject({ created: [], migrated: [], rebuilt: [], equivalent: [], extra: [] });
    expect(second.unchanged).toHaveLength(CORE_INDEXES.length);
  });

  it('(a) accepts an equivalent index under another name, logs it and builds no second one', async () => {
    await db.db.collection('users').createIndex({ user_id: 1 }, { unique: true, name: 'user_id_1' });
    const { logger, records } = captureLogs();
    const report = await ensureIndexes(db.db, CORE_INDEXES, { logger });
    expect(report.equivalent).toEqual(['users.user_id_unique=user_id_1']);
    expect(report.created).not.toContain('users.user_id_unique');
    const names = (await indexesOf('users')).map((index) => index.name).sort();
    expect(names).toEqual(['_id_', 'blocked_at_id', 'chat_id', 'user_id_1']);
    expect(records()).toContainEqual(
      expect.objectContaining({
        msg: 'an equivalent index exists under another name; it is used as it is',
        collection: 'users',
        index: 'user_id_unique',
        existing: 'user_id_1',
      }),
    );
    // The equivalent index still enforces what ours would.
    await db.collections.users.insertOne(userDoc(7));
    await expect(db.collections.users.insertOne(userDoc(7))).rejects.toMatchObject({ code: 11000 });
  });

  // Needs collMod on indexes: mongod has it; the emulator gains it with the wt-emulator branch.
  it('(b) migrates a TTL index whose expireAfterSeconds changed with collMod, in place', async () => {
    await db.db
      .collection('scheduler_runs')
      .createIndex({ expire_at: 1 }, { name: 'expire_at_ttl', expireAfterSeconds: 3600 });
    const { logger, records } = captureLogs();
    const report = await ensureIndexes(db.db, CORE_INDEXES, { logger });
    expect(report.migrated).toEqual(['scheduler_runs.expire_at_ttl']);
    expect(report.rebuilt).toEqual([]);
    const ttl = (await indexesOf('scheduler_runs')).find((index) => index.name === 'expire_at_ttl');
    expect(ttl?.expireAfterSeconds).toBe(0);
    expect(records()).toContainEqual(
      expect.objectContaining({
        msg: 'index options changed in place (collMod)',
        index: 'expire_at_ttl',
        changes: [{ option: 'expireAfterSeconds', from: 3600, to: 0 }],
      }),
    );
  });

  it('(c) drops and rebuilds an index of ours whose uniqueness or key changed, and logs it', async () => {
    await db.db.collection('users').createIndex({ user_id: 1 }, { name: 'user_id_unique' });
    await db.db
      .collection('tokens')
      .createIndex({ token: 1, user_id: 1 }, { name: 'token_unique', unique: true });
    const { logger, records } = captureLogs();
    const report = await ensureIndexes(db.db, CORE_INDEXES, { logger });
    expect(report.rebuilt.sort()).toEqual(['tokens.token_unique', 'users.user_id_unique']);
    const users = (await indexesOf('users')).find((index) => index.name === 'user_id_unique');
    expect(users).toMatchObject({ key: { user_id: 1 }, unique: true });
    const tokens = (await indexesOf('tokens')).find((index) => index.name === 'token_unique');
    expect(tokens).toMatchObject({ key: { token: 1 }, unique: true });
    const rebuilds = records().filter(
      (record) => record.msg === 'index definition changed: dropping it and building it again',
    );
    expect(rebuilds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ collection: 'users', index: 'user_id_unique', differences: ['unique'] }),
        expect.objectContaining({ collection: 'tokens', index: 'token_unique', differences: ['key'] }),
      ]),
    );
  });

  it('(d) refuses to start on duplicates blocking a unique index, in one line, changing nothing', async () => {
    await db.collections.users.insertMany([userDoc(12345), userDoc(12345), userDoc(1)]);
    const plan = await planIndexes(db.db, CORE_INDEXES);
    expect(plan.problems).toEqual([
      { collection: 'users', index: 'user_id_unique', fields: ['user_id'], values: [12345], count: 2 },
    ]);
    const failure = ensureIndexes(db.db);
    await expect(failure).rejects.toBeInstanceOf(IndexReconcileError);
    await expect(failure).rejects.toThrow(DUPLICATE_USER_LINE);
    expect((await indexesOf('users')).map((index) => index.name)).toEqual(['_id_']);
  });

  it('(d) names the duplicate when they appear between the plan and the build (E11000 from the build)', async () => {
    const plan = await planIndexes(db.db, CORE_INDEXES);
    expect(plan.problems).toEqual([]);
    await db.collections.users.insertMany([userDoc(12345), userDoc(12345)]);
    await expect(applyIndexPlan(db.db, plan)).rejects.toThrow(DUPLICATE_USER_LINE);
  });

  it('(e) leaves an index nobody declares alone and reports it', async () => {
    await db.db.collection('users').createIndex({ username: 1 }, { name: 'username_1' });
    const { logger, records } = captureLogs();
    const report = await ensureIndexes(db.db, CORE_INDEXES, { logger });
    expect(report.extra).toEqual(['users.username_1']);
    expect((await indexesOf('users')).map((index) => index.name)).toContain('username_1');
    expect(records()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        collection: 'users',
        index: 'username_1',
        key: { username: 1 },
      }),
    );
  });
});

describe('planCollection (the comparison alone)', () => {
  const declared: IndexDefinition[] = [
    { collection: 'c', key: { a: 1, b: -1 }, options: { name: 'a_b' }, serves: 'test' },
    { collection: 'c', key: { u: 1 }, options: { name: 'u_unique', unique: true }, serves: 'test' },
    {
      collection: 'c',
      key: { job: 1 },
      options: { name: 'one_running', unique: true, partialFilterExpression: { status: 'running' } },
      serves: 'test',
    },
  ];
  const id: IndexInfo = { v: 2, key: { _id: 1 }, name: '_id_' };
  const kinds = (existing: Document[]) =>
    planCollection('c', declared, [id, ...(existing as IndexInfo[])]).map((action) => [
      action.kind,
      action.name,
    ]);

  it('normalises defaults: unique false, numeric directions, filter key order', () => {
    expect(
      kinds([
        { v: 2, key: { a: 1.0, b: -1 }, name: 'a_b', unique: false, background: true },
        { v: 2, unique: true, key: { u: 1 }, name: 'u_unique' },
        {
          v: 2,
          unique: true,
          key: { job: 1 },
          name: 'one_running',
          partialFilterExpression: { status: 'running' },
        },
      ]),
    ).toEqual([
      ['unchanged', 'a_b'],
      ['unchanged', 'u_unique'],
      ['unchanged', 'one_running'],
    ]);
  });

  it('tells key order, a partial filter and uniqueness apart', () => {
    expect(
      kinds([
        { v: 2, key: { b: -1, a: 1 }, name: 'a_b' },
        { v: 2, key: { u: 1 }, name: 'u_1', unique: true },
        {
          v: 2,
          unique: true,
          key: { job: 1 },
          name: 'one_running',
          partialFilterExpression: { status: 'done' },
        },
      ]),
    ).toEqual([
      ['rebuild', 'a_b'],
      ['equivalent', 'u_unique'],
      ['rebuild', 'one_running'],
    ]);
  });

  it('does not take a non-unique index for a unique one', () => {
    expect(kinds([{ v: 2, key: { u: 1 }, name: 'u_1' }])).toEqual([
      ['create', 'a_b'],
      ['create', 'u_unique'],
      ['create', 'one_running'],
      ['extra', 'u_1'],
    ]);
  });

  it('uses commitQuorum on replica sets and mongos only', () => {
    expect(supportsCommitQuorum({ isWritablePrimary: true })).toBe(false);
    expect(supportsCommitQuorum({ isWritablePrimary: true, setName: 'rs0' })).toBe(true);
    expect(supportsCommitQuorum({ isWritablePrimary: true, msg: 'isdbgrid' })).toBe(true);
  });
});
