import { type Db, type Document, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CORE_INDEXES } from '../../../../db/indexes.js';
import { caught, startTestServer, type TestServer } from './harness.js';

// mongod 7.0's rules for partial filters, index conflicts, collMod and dropIndexes.

let server: TestServer;
let db: Db;
let counter = 0;
let name: string;

beforeAll(async () => {
  server = await startTestServer();
  db = server.freshDb();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  counter += 1;
  name = `rules_${counter}`;
});

const createIndexes = (indexes: Document[], extra: Document = {}) =>
  db.command({ createIndexes: name, indexes, ...extra });

async function refusal(action: () => Promise<unknown>): Promise<MongoServerError> {
  const error = await caught(action);
  expect(error).toBeInstanceOf(MongoServerError);
  return error as unknown as MongoServerError;
}

describe('partialFilterExpression', () => {
  it.each([
    ['equality', { status: 'running' }],
    ['$eq', { status: { $eq: 'running' } }],
    ['null equality', { deletedAt: null }],
    ['$exists: true', { a: { $exists: true } }],
    ['$gt/$gte/$lt/$lte', { a: { $gt: 1, $lte: 9 }, b: { $gte: 0, $lt: 3 } }],
    ['$type', { a: { $type: 'string' } }],
    ['$in (6.0+)', { a: { $in: [1, 2] } }],
    ['$or (6.0+)', { $or: [{ a: 1 }, { b: { $gt: 2 } }] }],
    ['$and', { $and: [{ a: 1 }, { b: { $exists: true } }] }],
  ])('accepts %s', async (_label, filter) => {
    await expect(
      createIndexes([{ key: { k: 1 }, name: 'k_partial', partialFilterExpression: filter }]),
    ).resolves.toMatchObject({ ok: 1 });
  });

  it.each([
    ['$ne', { a: { $ne: 1 } }, '$not\n    a $eq 1\n'],
    ['$nin', { a: { $nin: [1, 2] } }, '$not\n    a $in [ 1, 2 ]\n'],
    ['$not', { a: { $not: { $gt: 1 } } }, '$not\n    $and\n        a $gt 1\n'],
    ['$exists: false', { a: { $exists: false } }, '$not\n    a exists\n'],
    ['a regex', { a: /x/ }, 'a regex /x/\n'],
    ['$regex', { a: { $regex: 'x' } }, 'a regex "x"\n'],
    ['$elemMatch', { a: { $elemMatch: { $gt: 1 } } }, 'a $elemMatch'],
    ['$size', { a: { $size: 2 } }, 'a $size : 2\n'],
    ['$mod', { a: { $mod: [2, 0] } }, 'a $mod'],
    ['$all', { a: { $all: [1] } }, 'a $all'],
    ['$nor', { $nor: [{ a: 1 }] }, '$nor'],
    ['$ne inside $or', { $or: [{ a: 1 }, { b: { $ne: 1 } }] }, '$not\n    b $eq 1\n'],
  ])('refuses %s with CannotCreateIndex (67)', async (_label, filter, debug) => {
    const error = await refusal(() =>
      createIndexes([{ key: { k: 1 }, name: 'k_partial', partialFilterExpression: filter }]),
    );
    expect(error.code).toBe(67);
    expect(error.codeName).toBe('CannotCreateIndex');
    expect(error.message).toMatch(
      /^Error in specification \{ key: \{ k: 1 \}, name: "k_partial", partialFilterExpression: .* v: 2 \} :: caused by :: Expression not supported in partial index: /s,
    );
    expect(error.message).toContain(`Expression not supported in partial index: ${debug}`);
    // Nothing was created.
    const names = await db
      .collection(name)
      .listIndexes()
      .toArray()
      .catch(() => []);
    expect(names.map((index) => index.name)).not.toContain('k_partial');
  });

  it('refuses $expr and $where as not allowed in this context', async () => {
    const expr = await refusal(() =>
      createIndexes([{ key: { k: 1 }, partialFilterExpression: { $expr: { $eq: ['$a', 1] } } }]),
    );
    expect(expr.code).toBe(224);
    expect(expr.message).toMatch(/caused by :: \$expr is not allowed in this context$/);
    const where = await refusal(() =>
      createIndexes([{ key: { k: 1 }, partialFilterExpression: { $where: '1' } }]),
    );
    expect(where.code).toBe(2);
  });

  it("accepts every one of the project's own indexes (db/indexes.ts)", async () => {
    for (const index of CORE_INDEXES) {
      await db.collection(`${name}_${index.collection}`).createIndex(index.key, index.options);
    }
    const withFilters = CORE_INDEXES.filter((index) => index.options.partialFilterExpression !== undefined);
    expect(withFilters.length).toBeGreaterThan(0);
  });
});

describe('index conflicts', () => {
  it('same name, other key, uniqueness or filter: IndexKeySpecsConflict (86)', async () => {
    await createIndexes([{ key: { a: 1 }, name: 'idx', unique: true, partialFilterExpression: { s: 'x' } }]);
    for (const spec of [
      { key: { b: 1 }, name: 'idx', unique: true, partialFilterExpression: { s: 'x' } },
      { key: { a: 1 }, name: 'idx', partialFilterExpression: { s: 'x' } },
      { key: { a: 1 }, name: 'idx', unique: true, partialFilterExpression: { s: 'y' } },
    ]) {
      const error = await refusal(() => createIndexes([spec]));
      expect(error.code).toBe(86);
      expect(error.codeName).toBe('IndexKeySpecsConflict');
      expect(error.message).toMatch(/^An existing index has the same name as the requested index\./);
    }
  });

  it('same name and key, other expireAfterSeconds: IndexOptionsConflict (85)', async () => {
    await createIndexes([{ key: { at: 1 }, name: 'ttl', expireAfterSeconds: 60 }]);
    const error = await refusal(() =>
      createIndexes([{ key: { at: 1 }, name: 'ttl', expireAfterSeconds: 120 }]),
    );
    expect(error.code).toBe(85);
    expect(error.codeName).toBe('IndexOptionsConflict');
    expect(error.message).toMatch(
      /^An equivalent index already exists with the same name but different options\./,
    );
  });

  it('an identical index under another name: IndexOptionsConflict (85)', async () => {
    await createIndexes([{ key: { a: 1 }, name: 'first' }]);
    const error = await refusal(() => createIndexes([{ key: { a: 1 }, name: 'second' }]));
    expect(error.code).toBe(85);
    expect(error.message).toBe('Index already exists with a different name: first');
  });

  it('the same key with another partial filter may exist under another name (5.0+)', async () => {
    await createIndexes([{ key: { a: 1 }, name: 'one', partialFilterExpression: { s: 1 } }]);
    await expect(
      createIndexes([{ key: { a: 1 }, name: 'two', partialFilterExpression: { s: 2 } }]),
    ).resolves.toMatchObject({ ok: 1 });
  });
});

describe('collMod', () => {
  const specOf = async (indexName: string) =>
    (await db.collection(name).listIndexes().toArray()).find((index) => index.name === indexName);

  it('changes expireAfterSeconds in place, by name or key pattern', async () => {
    await createIndexes([{ key: { at: 1 }, name: 'at_ttl', expireAfterSeconds: 60 }]);
    const byName = await db.command({ collMod: name, index: { name: 'at_ttl', expireAfterSeconds: 120 } });
    expect(byName).toMatchObject({ expireAfterSeconds_old: 60, expireAfterSeconds_new: 120, ok: 1 });
    expect((await specOf('at_ttl'))?.expireAfterSeconds).toBe(120);
    const byKey = await db.command({
      collMod: name,
      index: { keyPattern: { at: 1 }, expireAfterSeconds: 30 },
    });
    expect(byKey).toMatchObject({ expireAfterSeconds_old: 120, expireAfterSeconds_new: 30 });
    // The changed index no longer conflicts with a spec carrying the new value.
    await expect(
      createIndexes([{ key: { at: 1 }, name: 'at_ttl', expireAfterSeconds: 30 }]),
    ).resolves.toMatchObject({ note: 'all indexes already exist' });
  });

  it('makes a single-field index a TTL index, and hides and unhides an index', async () => {
    await createIndexes([{ key: { at: 1 }, name: 'at_1' }]);
    const ttl = await db.command({ collMod: name, index: { name: 'at_1', expireAfterSeconds: 10 } });
    expect(ttl.expireAfterSeconds_new).toBe(10);
    expect(ttl.expireAfterSeconds_old).toBeUndefined();
    const hide = await db.command({ collMod: name, index: { name: 'at_1', hidden: true } });
    expect(hide).toMatchObject({ hidden_old: false, hidden_new: true });
    expect((await specOf('at_1'))?.hidden).toBe(true);
    await db.command({ collMod: name, index: { name: 'at_1', hidden: false } });
    expect((await specOf('at_1'))?.hidden).toBeUndefined();
  });

  it('refuses missing indexes and collections, TTL on compound indexes and bad values', async () => {
    await createIndexes([{ key: { a: 1, b: 1 }, name: 'ab' }]);
    const missing = await refusal(() =>
      db.command({ collMod: name, index: { name: 'nope', expireAfterSeconds: 1 } }),
    );
    expect(missing.code).toBe(27);
    expect(missing.codeName).toBe('IndexNotFound');
    const noCollection = await refusal(() =>
      db.command({ collMod: `${name}_missing`, index: { name: 'x', expireAfterSeconds: 1 } }),
    );
    expect(noCollection.code).toBe(26);
    const compound = await refusal(() =>
      db.command({ collMod: name, index: { name: 'ab', expireAfterSeconds: 1 } }),
    );
    expect(compound.code).toBe(72);
    const negative = await refusal(() => db.command({ collMod: name, index: { name: 'ab', hidden: 'yes' } }));
    expect(negative.code).toBe(14);
    const nothing = await refusal(() => db.command({ collMod: name, index: { name: 'ab' } }));
    expect(nothing.code).toBe(72);
  });
});

describe('dropIndexes by name', () => {
  it('drops exactly the named index, as index reconciliation does before re-creating it', async () => {
    await createIndexes([
      { key: { a: 1 }, name: 'keep' },
      { key: { b: 1 }, name: 'stale', expireAfterSeconds: 60 },
    ]);
    expect(await db.command({ dropIndexes: name, index: 'stale' })).toMatchObject({ nIndexesWas: 3, ok: 1 });
    const left = (await db.collection(name).listIndexes().toArray()).map((index) => index.name);
    expect(left).toEqual(['_id_', 'keep']);
    await expect(
      createIndexes([{ key: { b: 1 }, name: 'stale', expireAfterSeconds: 120 }]),
    ).resolves.toMatchObject({ ok: 1 });
    const error = await refusal(() => db.command({ dropIndexes: name, index: 'stale_missing' }));
    expect(error.code).toBe(27);
  });
});

describe('commitQuorum', () => {
  it('is refused by a standalone and accepted by a replica set primary', async () => {
    const hello = await db.admin().command({ hello: 1 });
    if (hello.setName === undefined) {
      const error = await refusal(() => createIndexes([{ key: { a: 1 } }], { commitQuorum: 'majority' }));
      expect(error.code).toBe(2);
      expect(error.message).toBe("Standalones can't specify commitQuorum");
    } else {
      await expect(createIndexes([{ key: { a: 1 } }], { commitQuorum: 'majority' })).resolves.toMatchObject({
        ok: 1,
      });
      await expect(createIndexes([{ key: { b: 1 } }], { commitQuorum: 1 })).resolves.toMatchObject({ ok: 1 });
      const error = await refusal(() => createIndexes([{ key: { c: 1 } }], { commitQuorum: 2 }));
      expect(error.code).toBe(278);
    }
  });
});
