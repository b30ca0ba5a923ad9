import { type Collection, type Db, type Document, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caught, REAL_SERVER_URI, startTestServer, type TestServer } from './harness.js';

interface LooseDocument {
  _id?: number | string;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary test documents, typed loosely on purpose
  [field: string]: any;
}

let server: TestServer;
let db: Db;
let coll: Collection<LooseDocument>;
let counter = 0;

beforeAll(async () => {
  server = await startTestServer();
  db = server.freshDb();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  counter += 1;
  coll = db.collection<LooseDocument>(`indexes_${counter}`);
});

describe('createIndexes and listIndexes', () => {
  it('lists _id_ first, then each index with v, key, name and its options', async () => {
    expect(await coll.createIndex({ email: 1 }, { unique: true })).toBe('email_1');
    expect(await coll.createIndex({ at: -1 }, { name: 'by_at', expireAfterSeconds: 3600 })).toBe('by_at');
    expect(await coll.createIndex({ a: 1, b: -1 }, { sparse: true })).toBe('a_1_b_-1');
    const indexes = await coll.listIndexes().toArray();
    expect(indexes).toEqual([
      { v: 2, key: { _id: 1 }, name: '_id_' },
      { v: 2, key: { email: 1 }, name: 'email_1', unique: true },
      { v: 2, key: { at: -1 }, name: 'by_at', expireAfterSeconds: 3600 },
      { v: 2, key: { a: 1, b: -1 }, name: 'a_1_b_-1', sparse: true },
    ]);
  });

  it('treats re-creating an identical index as success', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    const again = await db.command({
      createIndexes: coll.collectionName,
      indexes: [{ key: { email: 1 }, name: 'email_1', unique: true }],
    });
    expect(again.ok).toBe(1);
    expect(again.numIndexesBefore).toBe(2);
    expect(again.numIndexesAfter).toBe(2);
    expect((await coll.listIndexes().toArray()).length).toBe(2);
  });

  it.skipIf(REAL_SERVER_URI)('generates the conventional name when none is given', async () => {
    await db.command({ createIndexes: coll.collectionName, indexes: [{ key: { a: 1, 'b.c': -1 } }] });
    expect((await coll.listIndexes().toArray()).map((index) => index.name)).toEqual(['_id_', 'a_1_b.c_-1']);
  });

  it('rejects the same name with a different key or unique flag (IndexKeySpecsConflict)', async () => {
    await coll.createIndex({ email: 1 });
    const error = await caught(() => coll.createIndex({ email: 1 }, { unique: true, name: 'email_1' }));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(86);
    expect(error.codeName).toBe('IndexKeySpecsConflict');
    expect(error.message).toMatch(/^An existing index has the same name as the requested index\./);
    const otherKey = await caught(() => coll.createIndex({ other: 1 }, { name: 'email_1' }));
    expect(otherKey.code).toBe(86);
  });

  it('rejects the same key under another name (IndexOptionsConflict)', async () => {
    await coll.createIndex({ email: 1 });
    const error = await caught(() => coll.createIndex({ email: 1 }, { name: 'email_again' }));
    expect(error.code).toBe(85);
    expect(error.codeName).toBe('IndexOptionsConflict');
    expect(error.message).toBe('Index already exists with a different name: email_1');
  });

  it('rejects the same name and key with different non-identifying options', async () => {
    await coll.createIndex({ at: 1 }, { expireAfterSeconds: 60 });
    const error = await caught(() => coll.createIndex({ at: 1 }, { expireAfterSeconds: 120 }));
    expect(error.code).toBe(85);
    expect(error.message).toMatch(
      /^An equivalent index already exists with the same name but different options/,
    );
  });

  it('fails to build a unique index over duplicate data, creating nothing', async () => {
    await coll.insertMany([{ k: 1 }, { k: 1 }]);
    const error = await caught(() => coll.createIndex({ k: 1 }, { unique: true }));
    expect(error.code).toBe(11000);
    expect(error.message).toContain('E11000 duplicate key error');
    expect((await coll.listIndexes().toArray()).map((index) => index.name)).toEqual(['_id_']);
  });

  it('rejects TTL on compound indexes and parallel arrays in compound keys', async () => {
    expect((await caught(() => coll.createIndex({ a: 1, b: 1 }, { expireAfterSeconds: 5 }))).code).toBe(67);
    await coll.createIndex({ a: 1, b: 1 });
    const error = await caught(() => coll.insertOne({ a: [1, 2], b: [3, 4] }));
    expect(error.code).toBe(171);
  });
});

describe('dropIndexes', () => {
  it('drops by name, by key and all at once', async () => {
    await coll.createIndexes([{ key: { a: 1 } }, { key: { b: 1 } }, { key: { c: 1 } }]);
    await coll.dropIndex('a_1');
    await coll.dropIndex({ b: 1 } as unknown as string);
    expect((await coll.listIndexes().toArray()).map((index) => index.name)).toEqual(['_id_', 'c_1']);
    await coll.dropIndexes();
    expect((await coll.listIndexes().toArray()).map((index) => index.name)).toEqual(['_id_']);
  });

  it('reports missing indexes, the _id index and missing collections', async () => {
    await coll.insertOne({ a: 1 });
    expect((await caught(() => coll.dropIndex('nope_1'))).code).toBe(27);
    expect((await caught(() => coll.dropIndex('_id_'))).code).toBe(72);
    const missing = await caught(() => db.command({ listIndexes: 'does_not_exist' }));
    expect(missing.code).toBe(26);
  });
});

describe('unique indexes', () => {
  it('reports duplicates with the server message, keyPattern and keyValue', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ email: 'a@x.io' });
    const error = await caught(() => coll.insertOne({ email: 'a@x.io' }));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(11000);
    expect(error.message).toBe(
      `E11000 duplicate key error collection: ${db.databaseName}.${coll.collectionName} index: email_1 dup key: { email: "a@x.io" }`,
    );
    expect(error.keyPattern).toEqual({ email: 1 });
    expect(error.keyValue).toEqual({ email: 'a@x.io' });
  });

  it('enforces _id uniqueness', async () => {
    await coll.insertOne({ _id: 1 });
    const error = await caught(() => coll.insertOne({ _id: 1 }));
    expect(error.code).toBe(11000);
    expect(error.message).toContain('index: _id_ dup key: { _id: 1 }');
  });

  it('treats a missing field as null', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ name: 'first' });
    const error = await caught(() => coll.insertOne({ name: 'second' }));
    expect(error.code).toBe(11000);
    expect(error.keyValue).toEqual({ email: null });
    expect(error.message).toContain('dup key: { email: null }');
  });

  it('lets a sparse unique index skip documents without the field', async () => {
    await coll.createIndex({ email: 1 }, { unique: true, sparse: true });
    await coll.insertMany([{ name: 'first' }, { name: 'second' }]);
    expect((await caught(() => coll.insertMany([{ email: 'x' }, { email: 'x' }]))).code).toBe(11000);
  });

  it('compares compound keys as a whole', async () => {
    await coll.createIndex({ a: 1, b: 1 }, { unique: true });
    await coll.insertMany([
      { a: 1, b: 1 },
      { a: 1, b: 2 },
      { a: 2, b: 1 },
    ]);
    const error = await caught(() => coll.insertOne({ a: 1, b: 2 }));
    expect(error.code).toBe(11000);
    expect(error.keyValue).toEqual({ a: 1, b: 2 });
    expect(error.message).toContain('index: a_1_b_1 dup key: { a: 1, b: 2 }');
  });

  it('indexes each array element', async () => {
    await coll.createIndex({ tags: 1 }, { unique: true });
    await coll.insertOne({ tags: ['a', 'b', 'b'] });
    const error = await caught(() => coll.insertOne({ tags: ['c', 'b'] }));
    expect(error.code).toBe(11000);
    expect(error.keyValue).toEqual({ tags: 'b' });
  });

  it('checks updates and leaves the document unchanged on conflict', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertMany([
      { _id: 1, email: 'a' },
      { _id: 2, email: 'b' },
    ]);
    const error = await caught(() => coll.updateOne({ _id: 2 }, { $set: { email: 'a' } }));
    expect(error.code).toBe(11000);
    expect(await coll.findOne({ _id: 2 })).toEqual({ _id: 2, email: 'b' });
    await coll.updateOne({ _id: 1 }, { $set: { email: 'c' } });
    await coll.updateOne({ _id: 2 }, { $set: { email: 'a' } });
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, email: 'c' },
      { _id: 2, email: 'a' },
    ]);
  });

  it('partial unique indexes only constrain matching documents, re-evaluated on update', async () => {
    await coll.createIndex({ user: 1 }, { unique: true, partialFilterExpression: { status: 'active' } });
    await coll.insertMany([
      { _id: 1, user: 'u', status: 'inactive' },
      { _id: 2, user: 'u', status: 'inactive' },
      { _id: 3, user: 'u', status: 'active' },
    ]);
    const error = await caught(() => coll.updateOne({ _id: 1 }, { $set: { status: 'active' } }));
    expect(error.code).toBe(11000);
    expect(error.keyValue).toEqual({ user: 'u' });

    await coll.updateOne({ _id: 3 }, { $set: { status: 'retired' } });
    await coll.updateOne({ _id: 1 }, { $set: { status: 'active' } });
    expect(await coll.countDocuments({ status: 'active' })).toBe(1);
    expect((await caught(() => coll.insertOne({ user: 'u', status: 'active' }))).code).toBe(11000);
  });
});

describe('bulk inserts with duplicates', () => {
  const batch = (): Document[] => [{ _id: 1 }, { _id: 1 }, { _id: 2 }, { _id: 2 }, { _id: 3 }];

  it('unordered inserts continue past errors and report each one', async () => {
    const error = await caught(() => coll.insertMany(batch(), { ordered: false }));
    expect(error).toBeInstanceOf(MongoBulkWriteError);
    const bulk = error as unknown as MongoBulkWriteError;
    expect(bulk.insertedCount).toBe(3);
    const writeErrors = Array.isArray(bulk.writeErrors) ? bulk.writeErrors : [bulk.writeErrors];
    expect(writeErrors.map((e) => e.index)).toEqual([1, 3]);
    expect(writeErrors.map((e) => e.code)).toEqual([11000, 11000]);
    expect(await coll.countDocuments()).toBe(3);
  });

  it('ordered inserts stop at the first error', async () => {
    const error = await caught(() => coll.insertMany(batch()));
    expect(error).toBeInstanceOf(MongoBulkWriteError);
    expect((error as unknown as MongoBulkWriteError).insertedCount).toBe(1);
    expect(await coll.countDocuments()).toBe(1);
  });
});

describe('queries through indexes see every write', () => {
  it('equality and $in lookups follow inserts, updates and deletes', async () => {
    await coll.createIndex({ k: 1 });
    await coll.createIndex({ g: 1, h: 1 });
    await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, k: i % 4, g: `g${i % 2}`, h: i })));
    expect(await coll.countDocuments({ k: 1 })).toBe(5);
    await coll.updateMany({ k: 1 }, { $set: { k: 9 } });
    expect(await coll.countDocuments({ k: 1 })).toBe(0);
    expect(await coll.countDocuments({ k: { $in: [9, 2] } })).toBe(10);
    await coll.deleteMany({ k: 9, h: { $lt: 10 } });
    expect(
      (await coll.find({ k: 9 }).toArray()).map((d) => d._id).sort((a, b) => Number(a) - Number(b)),
    ).toEqual([13, 17]);
    expect(await coll.countDocuments({ g: 'g0', h: { $gte: 10 } })).toBe(5);
  });

  it('null lookups still find documents a sparse index leaves out', async () => {
    await coll.createIndex({ s: 1 }, { sparse: true });
    await coll.insertMany([{ _id: 1, s: null }, { _id: 2 }, { _id: 3, s: 1 }]);
    expect((await coll.find({ s: null }).sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual([1, 2]);
  });

  it('lookups find documents a partial index leaves out', async () => {
    await coll.createIndex({ p: 1 }, { partialFilterExpression: { on: true } });
    await coll.insertMany([
      { _id: 1, p: 'x', on: true },
      { _id: 2, p: 'x', on: false },
    ]);
    expect(await coll.countDocuments({ p: 'x' })).toBe(2);
  });
});
