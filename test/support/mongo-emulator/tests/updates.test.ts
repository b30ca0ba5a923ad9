import {
  type Collection,
  type Db,
  type Document,
  MongoBulkWriteError,
  MongoServerError,
  ObjectId,
} from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caught, startTestServer, type TestServer } from './harness.js';

let server: TestServer;
let db: Db;
/** Tests use numeric and string _ids and free-form updates, which the driver's typings reject. */
interface LooseDocument {
  _id?: number | string | ObjectId;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary test documents, typed loosely on purpose
  [field: string]: any;
}

let docs: Collection<LooseDocument>;

beforeAll(async () => {
  server = await startTestServer();
  db = server.freshDb();
});

afterAll(async () => {
  await server.close();
});

let collectionCounter = 0;
beforeEach(() => {
  collectionCounter += 1;
  docs = db.collection(`updates_${collectionCounter}`);
});

async function updated(initial: Document, update: Document | Document[]): Promise<Document | null> {
  await docs.insertOne({ _id: 1, ...initial });
  await docs.updateOne({ _id: 1 }, update);
  return docs.findOne({ _id: 1 });
}

describe('update operators', () => {
  it('$set creates nested paths and new fields in lexicographic order', async () => {
    const doc = await updated({ b: 1 }, { $set: { z: 1, a: 1, 'm.n.o': 'deep' } });
    expect(doc).toEqual({ _id: 1, b: 1, a: 1, m: { n: { o: 'deep' } }, z: 1 });
    expect(Object.keys(doc ?? {})).toEqual(['_id', 'b', 'a', 'm', 'z']);
  });

  it('$set on an array index pads with nulls', async () => {
    expect(await updated({ list: [1] }, { $set: { 'list.3': 4 } })).toEqual({
      _id: 1,
      list: [1, null, null, 4],
    });
  });

  it('$unset removes fields and nulls array elements', async () => {
    expect(
      await updated({ a: 1, b: 2, list: [1, 2, 3] }, { $unset: { a: '', 'list.1': '', missing: '' } }),
    ).toEqual({
      _id: 1,
      b: 2,
      list: [1, null, 3],
    });
  });

  it('$inc adds, creates missing fields and keeps integers integral', async () => {
    const doc = await updated({ count: 1, score: 1.5 }, { $inc: { count: 2, score: -0.5, fresh: 5 } });
    expect(doc).toEqual({ _id: 1, count: 3, score: 1, fresh: 5 });
    expect(Number.isInteger(doc?.count)).toBe(true);
  });

  it('$min and $max compare with BSON ordering, Dates included', async () => {
    const doc = await updated(
      { low: 5, high: 5, first: new Date('2024-05-01T00:00:00Z') },
      { $min: { low: 3, first: new Date('2024-01-01T00:00:00Z') }, $max: { high: 3, created: 9 } },
    );
    expect(doc).toEqual({ _id: 1, low: 3, high: 5, first: new Date('2024-01-01T00:00:00Z'), created: 9 });
  });

  it('$currentDate sets the server time', async () => {
    const before = Date.now();
    const doc = await updated({}, { $currentDate: { touched: true, typed: { $type: 'date' } } });
    const touched = doc?.touched as Date;
    expect(touched).toBeInstanceOf(Date);
    expect(Math.abs(touched.getTime() - before)).toBeLessThan(60_000);
    expect(doc?.typed).toBeInstanceOf(Date);
  });

  it('$rename moves a field', async () => {
    expect(await updated({ old: 'v', keep: 1 }, { $rename: { old: 'fresh.name', absent: 'other' } })).toEqual(
      {
        _id: 1,
        keep: 1,
        fresh: { name: 'v' },
      },
    );
  });

  it('$push appends, and applies $position, $sort and $slice in that order', async () => {
    expect(await updated({ list: [1] }, { $push: { list: 2, other: 'x' } })).toEqual({
      _id: 1,
      list: [1, 2],
      other: ['x'],
    });
    await docs.updateOne({ _id: 1 }, { $push: { list: { $each: [9, 0], $position: 0 } } } as Document);
    expect((await docs.findOne({ _id: 1 }))?.list).toEqual([9, 0, 1, 2]);
    await docs.updateOne({ _id: 1 }, { $push: { list: { $each: [5], $sort: -1, $slice: 3 } } } as Document);
    expect((await docs.findOne({ _id: 1 }))?.list).toEqual([9, 5, 2]);
  });

  it('$push sorts embedded documents by field', async () => {
    const doc = await updated(
      { quizzes: [{ score: 5 }, { score: 9 }] },
      { $push: { quizzes: { $each: [{ score: 7 }], $sort: { score: 1 }, $slice: -2 } } },
    );
    expect(doc?.quizzes).toEqual([{ score: 7 }, { score: 9 }]);
  });

  it('$addToSet adds only missing values', async () => {
    const doc = await updated(
      { tags: ['a', { k: 1, v: 2 }] },
      { $addToSet: { tags: { $each: ['a', 'b', 'b', { k: 1, v: 2 }, { v: 2, k: 1 }] } } },
    );
    expect(doc?.tags).toEqual(['a', { k: 1, v: 2 }, 'b', { v: 2, k: 1 }]);
  });

  it('$pull removes by value, by condition and by document query', async () => {
    const doc = await updated(
      {
        scores: [5, 6, 7, 8],
        names: ['x', 'y', 'x'],
        results: [
          { item: 'A', score: 5 },
          { item: 'B', score: 8, extra: 1 },
        ],
      },
      { $pull: { scores: { $gte: 7 }, names: 'x', results: { score: 8, item: 'B' }, missing: 1 } },
    );
    expect(doc).toEqual({ _id: 1, scores: [5, 6], names: ['y'], results: [{ item: 'A', score: 5 }] });
  });

  it('$setOnInsert is ignored when a document matched', async () => {
    expect(await updated({ a: 1 }, { $set: { b: 2 }, $setOnInsert: { c: 3 } })).toEqual({
      _id: 1,
      a: 1,
      b: 2,
    });
  });

  it('reports matched and modified counts, no-ops included', async () => {
    await docs.insertMany([
      { _id: 1, group: 'g', v: 1 },
      { _id: 2, group: 'g', v: 2 },
      { _id: 3, group: 'h', v: 1 },
    ]);
    const noop = await docs.updateOne({ _id: 1 }, { $set: { v: 1 } });
    expect([noop.matchedCount, noop.modifiedCount]).toEqual([1, 0]);
    const many = await docs.updateMany({ group: 'g' }, { $set: { v: 2 } });
    expect([many.matchedCount, many.modifiedCount]).toEqual([2, 1]);
    const none = await docs.updateMany({ group: 'zzz' }, { $set: { v: 2 } });
    expect([none.matchedCount, none.modifiedCount, none.upsertedCount]).toEqual([0, 0, 0]);
  });

  it('applies aggregation-pipeline updates', async () => {
    expect(
      await updated({ a: 2, b: 3 }, [{ $set: { total: { $add: ['$a', '$b'] } } }, { $unset: 'a' }]),
    ).toEqual({ _id: 1, b: 3, total: 5 });
  });

  it('replaceOne swaps the whole document but keeps _id', async () => {
    await docs.insertOne({ _id: 1, a: 1, b: 2 });
    const result = await docs.replaceOne({ _id: 1 }, { c: 3 });
    expect(result.modifiedCount).toBe(1);
    expect(await docs.findOne({ _id: 1 })).toEqual({ _id: 1, c: 3 });
  });
});

describe('update errors', () => {
  beforeEach(async () => {
    await docs.insertOne({ _id: 1, name: 'n', count: 1, list: [1], scalar: 5 });
  });

  it.each([
    ['changing _id through an operator', { $set: { _id: 2 } }, 66],
    ['conflicting paths', { $set: { count: 1 }, $inc: { count: 1 } }, 40],
    ['a parent and a child path', { $set: { 'a.b': 1 }, $unset: { a: '' } }, 40],
    ['$inc on a string', { $inc: { name: 1 } }, 14],
    ['$inc by a string', { $inc: { count: 'one' } }, 14],
    ['$push on a non-array', { $push: { name: 'x' } }, 2],
    ['a field inside a scalar', { $set: { 'scalar.inner': 1 } }, 28],
    ['an unknown modifier', { $frobnicate: { a: 1 } }, 9],
  ])('rejects %s', async (_label, update, code) => {
    const error = await caught(() => docs.updateOne({ _id: 1 }, update as Document));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(code);
    expect(await docs.findOne({ _id: 1 })).toEqual({ _id: 1, name: 'n', count: 1, list: [1], scalar: 5 });
  });

  it('allows setting _id to its current value', async () => {
    const result = await docs.updateOne({ _id: 1 }, { $set: { _id: 1, name: 'm' } });
    expect(result.modifiedCount).toBe(1);
  });

  it('rejects a replacement with a different _id', async () => {
    const error = await caught(() => docs.replaceOne({ _id: 1 }, { _id: 2, name: 'x' }));
    expect(error.code).toBe(66);
    expect(error.message).toContain("the (immutable) field '_id' was found to have been altered to _id: 2");
  });
});

describe('upserts', () => {
  it('seeds the new document from equality conditions and applies $setOnInsert', async () => {
    const result = await docs.updateOne(
      { name: 'x', 'meta.kind': 'k', n: { $gt: 5 }, $and: [{ flag: true }, { level: { $eq: 2 } }] },
      { $set: { v: 1 }, $setOnInsert: { created: true } },
      { upsert: true },
    );
    expect(result.upsertedCount).toBe(1);
    expect(result.upsertedId).toBeInstanceOf(ObjectId);
    const inserted = await docs.findOne({ _id: result.upsertedId as ObjectId });
    expect(inserted).toEqual({
      _id: result.upsertedId,
      name: 'x',
      meta: { kind: 'k' },
      flag: true,
      level: 2,
      v: 1,
      created: true,
    });

    const again = await docs.updateOne(
      { name: 'x' },
      { $set: { v: 2 }, $setOnInsert: { created: false } },
      { upsert: true },
    );
    expect([again.matchedCount, again.modifiedCount, again.upsertedCount]).toEqual([1, 1, 0]);
    expect((await docs.findOne({ name: 'x' }))?.created).toBe(true);
  });

  it('uses the _id of the query', async () => {
    const result = await docs.updateOne({ _id: 'fixed' }, { $inc: { n: 1 } }, { upsert: true });
    expect(result.upsertedId).toBe('fixed');
    expect(await docs.findOne({ _id: 'fixed' })).toEqual({ _id: 'fixed', n: 1 });
  });

  it('an upserting replacement takes only _id from the query', async () => {
    await docs.replaceOne({ _id: 7, ignored: 1 }, { kept: true }, { upsert: true });
    expect(await docs.findOne({ _id: 7 })).toEqual({ _id: 7, kept: true });
  });

  it('updateMany with upsert inserts a single document', async () => {
    const result = await docs.updateMany({ kind: 'none' }, { $set: { seen: true } }, { upsert: true });
    expect(result.upsertedCount).toBe(1);
    expect(await docs.countDocuments({ kind: 'none', seen: true })).toBe(1);
  });
});

describe('findOneAndUpdate / Replace / Delete', () => {
  beforeEach(async () => {
    await docs.insertMany([
      { _id: 1, queue: 'q', priority: 2, state: 'new' },
      { _id: 2, queue: 'q', priority: 5, state: 'new' },
      { _id: 3, queue: 'q', priority: 1, state: 'done' },
    ]);
  });

  it('returns the document before or after the update', async () => {
    const before = await docs.findOneAndUpdate({ _id: 1 }, { $set: { state: 'taken' } });
    expect(before).toEqual({ _id: 1, queue: 'q', priority: 2, state: 'new' });
    const after = await docs.findOneAndUpdate(
      { _id: 1 },
      { $set: { state: 'again' } },
      { returnDocument: 'after', projection: { state: 1, _id: 0 } },
    );
    expect(after).toEqual({ state: 'again' });
  });

  it('projects the new version even when it no longer matches the query', async () => {
    const after = await docs.findOneAndUpdate(
      { state: 'new', priority: 2 },
      { $set: { state: 'taken' } },
      { returnDocument: 'after', projection: { _id: 0, state: 1 } },
    );
    expect(after).toEqual({ state: 'taken' });
  });

  it('picks the first match in sort order', async () => {
    const claimed = await docs.findOneAndUpdate(
      { queue: 'q', state: 'new' },
      { $set: { state: 'taken' } },
      { sort: { priority: -1 }, returnDocument: 'after' },
    );
    expect(claimed?._id).toBe(2);
  });

  it('returns null when nothing matches', async () => {
    expect(await docs.findOneAndUpdate({ _id: 99 }, { $set: { x: 1 } })).toBeNull();
  });

  it('upserts, returning null before and the new document after', async () => {
    expect(await docs.findOneAndUpdate({ _id: 10 }, { $set: { a: 1 } }, { upsert: true })).toBeNull();
    const created = await docs.findOneAndUpdate(
      { _id: 11 },
      { $set: { a: 1 }, $setOnInsert: { b: 2 } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(created).toEqual({ _id: 11, a: 1, b: 2 });
  });

  it('includes result metadata on request', async () => {
    const result = await docs.findOneAndUpdate(
      { _id: 12 },
      { $set: { a: 1 } },
      { upsert: true, includeResultMetadata: true },
    );
    expect(result.lastErrorObject).toEqual({ n: 1, updatedExisting: false, upserted: 12 });
    expect(result.ok).toBe(1);
  });

  it('replaces and deletes', async () => {
    const replaced = await docs.findOneAndReplace({ _id: 3 }, { queue: 'r' }, { returnDocument: 'after' });
    expect(replaced).toEqual({ _id: 3, queue: 'r' });
    const removed = await docs.findOneAndDelete({ queue: 'q' }, { sort: { priority: 1 } });
    expect(removed?._id).toBe(1);
    expect(await docs.countDocuments()).toBe(2);
  });

  it('reports duplicate keys as a server error and leaves the document alone', async () => {
    await docs.createIndex({ priority: 1, queue: 1 }, { unique: true });
    const error = await caught(() => docs.findOneAndUpdate({ _id: 1 }, { $set: { priority: 5 } }));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(11000);
    expect(error.keyValue).toEqual({ priority: 5, queue: 'q' });
    expect(error.keyPattern).toEqual({ priority: 1, queue: 1 });
    expect((await docs.findOne({ _id: 1 }))?.priority).toBe(2);
  });
});

describe('bulkWrite', () => {
  it('mixes operations and reports per-operation errors', async () => {
    await docs.insertOne({ _id: 1, v: 0 });
    const error = await caught(() =>
      docs.bulkWrite(
        [
          { insertOne: { document: { _id: 2, v: 0 } } },
          { insertOne: { document: { _id: 1, v: 0 } } },
          { updateOne: { filter: { _id: 2 }, update: { $inc: { v: 1 } } } },
          { deleteOne: { filter: { _id: 1 } } },
          { updateOne: { filter: { _id: 3 }, update: { $set: { v: 3 } }, upsert: true } },
        ],
        { ordered: false },
      ),
    );
    expect(error).toBeInstanceOf(MongoBulkWriteError);
    const bulk = error as unknown as MongoBulkWriteError;
    expect(bulk.writeErrors).toHaveLength(1);
    expect(bulk.result.insertedCount).toBe(1);
    expect(bulk.result.modifiedCount).toBe(1);
    expect(bulk.result.deletedCount).toBe(1);
    expect(bulk.result.upsertedCount).toBe(1);
    expect(await docs.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 2, v: 1 },
      { _id: 3, v: 3 },
    ]);
  });
});
