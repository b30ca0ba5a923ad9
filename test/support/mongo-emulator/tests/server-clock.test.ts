import { type Collection, type Db, type Document, MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type MongoEmulator, startMongoEmulator } from '../index.js';
import { caught } from './harness.js';

// Emulator-specific: $$NOW and $currentDate come from the emulator's injected clock, so the
// assertions can name exact instants. A real mongod reads its own clock the same way: once per
// operation, the same value for every client whatever their host clocks say.

const T0 = Date.UTC(2030, 0, 1);
let clock = T0;
/** When set, every read of the clock advances it, so two reads never agree. */
let ticking = false;
let clockReads = 0;

function serverClock(): Date {
  clockReads += 1;
  return new Date(ticking ? clock++ : clock);
}

interface Member {
  _id: string | number;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary test documents, typed loosely on purpose
  [field: string]: any;
}

let emulator: MongoEmulator;
let client: MongoClient;
let db: Db;
let docs: Collection<Member>;
let collectionCounter = 0;

beforeAll(async () => {
  emulator = await startMongoEmulator({ port: 0, now: serverClock });
  client = new MongoClient(emulator.uri);
  db = client.db('server_clock');
});

afterAll(async () => {
  await client.close();
  await emulator.close();
});

beforeEach(() => {
  clock = T0;
  ticking = false;
  collectionCounter += 1;
  docs = db.collection<Member>(`members_${collectionCounter}`);
});

const at = (offsetMs: number): Date => new Date(T0 + offsetMs);

describe('$$NOW in update pipelines', () => {
  it('is the server clock, in $set and in arithmetic on it', async () => {
    await docs.insertOne({ _id: 'a' });
    await docs.updateOne({ _id: 'a' }, [{ $set: { at: '$$NOW', exp: { $add: ['$$NOW', 60_000] } } }]);
    expect(await docs.findOne({ _id: 'a' })).toEqual({ _id: 'a', at: at(0), exp: at(60_000) });
  });

  it('is one instant for every document an updateMany touches', async () => {
    await docs.insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: i })));
    ticking = true;
    const result = await docs.updateMany({}, [{ $set: { at: '$$NOW' } }]);
    expect(result.modifiedCount).toBe(50);
    const stamps = new Set((await docs.find().toArray()).map((doc) => (doc.at as Date).getTime()));
    expect(stamps.size).toBe(1);
    const [stamp] = [...stamps];
    expect(stamp).toBeGreaterThanOrEqual(T0);
    expect(stamp).toBeLessThan(clock);
  });

  it('is one instant for every statement of a write batch', async () => {
    await docs.insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: i })));
    ticking = true;
    const before = clockReads;
    await docs.bulkWrite([
      { updateOne: { filter: { _id: 0 }, update: [{ $set: { at: '$$NOW' } }] } },
      { updateMany: { filter: { $expr: { $gte: ['$_id', 3] } }, update: [{ $set: { at: '$$NOW' } }] } },
      { updateOne: { filter: { _id: 9 }, update: [{ $set: { at: '$$NOW' } }], upsert: true } },
    ]);
    expect(clockReads - before).toBe(1);
    const stamped = await docs
      .find({ at: { $exists: true } })
      .sort({ _id: 1 })
      .toArray();
    expect(stamped.map((doc) => doc._id)).toEqual([0, 3, 4, 9]);
    expect(new Set(stamped.map((doc) => doc.at.getTime())).size).toBe(1);
  });

  it('is the server clock in findOneAndUpdate, for the returned and the stored document', async () => {
    await docs.insertOne({ _id: 'a', n: 1 });
    const after = await docs.findOneAndUpdate({ _id: 'a' }, [{ $set: { at: '$$NOW' } }], {
      returnDocument: 'after',
    });
    expect(after).toEqual({ _id: 'a', n: 1, at: at(0) });
    expect(await docs.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 1, at: at(0) });
  });

  it('is the server clock in the document an upsert inserts', async () => {
    const result = await docs.updateOne(
      { _id: 'u', kind: 'lease' },
      [{ $set: { at: '$$NOW', until: { $add: ['$$NOW', 30_000] } } }],
      { upsert: true },
    );
    expect(result.upsertedCount).toBe(1);
    expect(await docs.findOne({ _id: 'u' })).toEqual({
      _id: 'u',
      kind: 'lease',
      at: at(0),
      until: at(30_000),
    });
  });

  it('works with a clock at the Unix epoch', async () => {
    clock = 0;
    await docs.insertOne({ _id: 'a' });
    await docs.updateOne({ _id: 'a' }, [{ $set: { at: '$$NOW' } }]);
    expect(await docs.findOne({ _id: 'a' })).toEqual({ _id: 'a', at: new Date(0) });
  });

  it('$currentDate reads the same clock', async () => {
    await docs.insertOne({ _id: 'a' });
    const stamp: Document = { $currentDate: { touched: true, typed: { $type: 'date' } } };
    await docs.updateOne({ _id: 'a' }, stamp);
    expect(await docs.findOne({ _id: 'a' })).toEqual({ _id: 'a', touched: at(0), typed: at(0) });
  });
});

describe('insert-if-absent with server time: upsert with $replaceWith $cond on $$ROOT', () => {
  const insertIfAbsent = [
    {
      $replaceWith: {
        $cond: [{ $ifNull: ['$job', false] }, '$$ROOT', { _id: 'b', job: 'j', at: '$$NOW' }],
      },
    },
  ];

  it('updateOne inserts when absent and leaves an existing document unchanged', async () => {
    const inserted = await docs.updateOne({ _id: 'b' }, insertIfAbsent, { upsert: true });
    expect(inserted).toMatchObject({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1, upsertedId: 'b' });
    expect(await docs.findOne({ _id: 'b' })).toEqual({ _id: 'b', job: 'j', at: at(0) });

    clock = T0 + 5_000;
    const again = await docs.updateOne({ _id: 'b' }, insertIfAbsent, { upsert: true });
    expect(again).toMatchObject({ matchedCount: 1, modifiedCount: 0, upsertedCount: 0, upsertedId: null });
    expect(await docs.findOne({ _id: 'b' })).toEqual({ _id: 'b', job: 'j', at: at(0) });
  });

  it('findOneAndUpdate inserts when absent and leaves an existing document unchanged', async () => {
    const inserted = await docs.findOneAndUpdate({ _id: 'b' }, insertIfAbsent, {
      upsert: true,
      returnDocument: 'after',
      includeResultMetadata: true,
    });
    expect(inserted.lastErrorObject).toEqual({ n: 1, updatedExisting: false, upserted: 'b' });
    expect(inserted.value).toEqual({ _id: 'b', job: 'j', at: at(0) });

    clock = T0 + 5_000;
    const again = await docs.findOneAndUpdate({ _id: 'b' }, insertIfAbsent, {
      upsert: true,
      returnDocument: 'after',
      includeResultMetadata: true,
    });
    expect(again.lastErrorObject).toEqual({ n: 1, updatedExisting: true });
    expect(again.value).toEqual({ _id: 'b', job: 'j', at: at(0) });
    expect(await docs.countDocuments()).toBe(1);
  });
});

describe('$$NOW in $expr filters', () => {
  const stale = { $expr: { $lt: ['$heartbeat_at', { $subtract: ['$$NOW', 30_000] }] } };

  beforeEach(async () => {
    await docs.insertMany([
      { _id: 'fresh', heartbeat_at: at(-10_000) },
      { _id: 'stale', heartbeat_at: at(-60_000) },
      { _id: 'future', heartbeat_at: at(60_000) },
    ]);
  });

  const staleIds = async (): Promise<unknown[]> =>
    (await docs.find(stale).sort({ _id: 1 }).toArray()).map((doc) => doc._id);

  it('find and countDocuments compare with the server clock, and follow it when it moves', async () => {
    expect(await staleIds()).toEqual(['stale']);
    expect(await docs.countDocuments(stale)).toBe(1);

    clock = T0 + 25_000;
    expect(await staleIds()).toEqual(['fresh', 'stale']);
    expect(await docs.countDocuments(stale)).toBe(2);
  });

  it('count and distinct compare with the server clock', async () => {
    const count = await db.command({ count: docs.collectionName, query: stale });
    expect(count.n).toBe(1);
    expect(await docs.distinct('_id', stale)).toEqual(['stale']);
  });

  it('updateMany and deleteMany compare with the server clock', async () => {
    const updated = await docs.updateMany(stale, { $set: { state: 'expired' } });
    expect(updated).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await docs.findOne({ _id: 'stale' })).toMatchObject({ state: 'expired' });

    clock = T0 + 25_000;
    const deleted = await docs.deleteMany(stale);
    expect(deleted.deletedCount).toBe(2);
    expect((await docs.find().toArray()).map((doc) => doc._id)).toEqual(['future']);
  });

  it('a findOneAndUpdate claim can both filter on and stamp $$NOW', async () => {
    const claimed = await docs.findOneAndUpdate(stale, [{ $set: { heartbeat_at: '$$NOW' } }], {
      returnDocument: 'after',
    });
    expect(claimed).toEqual({ _id: 'stale', heartbeat_at: at(0) });
    expect(await docs.findOneAndUpdate(stale, [{ $set: { heartbeat_at: '$$NOW' } }])).toBeNull();
  });
});

describe('$$NOW in reads', () => {
  beforeEach(async () => {
    await docs.insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: i })));
  });

  it('aggregate $addFields sees the server clock, and follows it between commands', async () => {
    const first = await docs.aggregate([{ $addFields: { now: '$$NOW' } }]).toArray();
    expect(first.map((doc) => doc.now)).toEqual(Array(5).fill(at(0)));

    clock = T0 + 1_000;
    const second = await docs.aggregate([{ $addFields: { now: '$$NOW' } }]).toArray();
    expect(second.map((doc) => doc.now)).toEqual(Array(5).fill(at(1_000)));
  });

  it('an aggregation cursor keeps the instant of its aggregate command across getMore', async () => {
    const cursor = docs.aggregate<Document>([{ $addFields: { now: '$$NOW' } }], { batchSize: 2 });
    const first = await cursor.next();
    clock = T0 + 1_000;
    const rest = await cursor.toArray();
    expect([first, ...rest].map((doc) => doc?.now)).toEqual(Array(5).fill(at(0)));
  });

  it('$facet and $lookup sub-pipelines see the same instant', async () => {
    ticking = true;
    const lookup = { from: docs.collectionName, as: 'joined', pipeline: [{ $project: { now: '$$NOW' } }] };
    const [result] = await docs
      .aggregate<{ outer: Document[]; inner: { joined: Document[] }[] }>([
        { $limit: 1 },
        { $facet: { outer: [{ $project: { now: '$$NOW' } }], inner: [{ $lookup: lookup }] } },
      ])
      .toArray();
    const seen = [...(result?.outer ?? []), ...(result?.inner[0]?.joined ?? [])].map((doc) => doc.now);
    expect(seen).toHaveLength(6);
    expect(new Set(seen.map((now) => now.getTime())).size).toBe(1);
    expect(seen[0].getTime()).toBeGreaterThanOrEqual(T0);
  });

  it('find projections with $$NOW see the server clock', async () => {
    const found = await docs.find({ _id: 1 }, { projection: { now: '$$NOW' } }).toArray();
    expect(found).toEqual([{ _id: 1, now: at(0) }]);
  });
});

describe('$$CLUSTER_TIME', () => {
  it('is refused, as on a standalone mongod', async () => {
    await docs.insertOne({ _id: 'a' });
    const error = await caught(() => docs.aggregate([{ $addFields: { t: '$$CLUSTER_TIME' } }]).toArray());
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(51144);
    expect(error.message).toContain("Builtin variable '$$CLUSTER_TIME' is not available");
  });
});
