import { type Collection, type Filter, MongoServerError, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught, startTestServer, type TestServer } from './harness.js';

interface Item {
  _id: number;
  name: string;
  n?: number | string;
  at?: Date;
  owner?: ObjectId | null;
  tags?: string[];
  nul?: null;
  nested?: { x: number; y: number[] };
}

const ownerA = new ObjectId('65a000000000000000000001');
const ownerB = new ObjectId('65a000000000000000000002');

const ITEMS: Item[] = [
  {
    _id: 1,
    name: 'alpha',
    n: 5,
    at: new Date('2024-01-01T00:00:00Z'),
    owner: ownerA,
    tags: ['a', 'b'],
    nul: null,
  },
  { _id: 2, name: 'beta', n: 10, at: new Date('2024-02-01T00:00:00Z'), owner: ownerB, tags: ['b'] },
  { _id: 3, name: 'gamma', n: 15.5, at: new Date('2024-03-01T00:00:00Z'), owner: ownerA, tags: [] },
  { _id: 4, name: 'delta', n: '20', owner: null },
  { _id: 5, name: 'Epsilon', n: -1, at: new Date('2024-04-01T00:00:00Z'), nested: { x: 1, y: [1, 2] } },
];

let server: TestServer;
let items: Collection<Item>;

beforeAll(async () => {
  server = await startTestServer();
  items = server.freshDb().collection<Item>('items');
  await items.insertMany(ITEMS);
});

afterAll(async () => {
  await server.close();
});

async function ids(filter: Filter<Item>): Promise<number[]> {
  const docs = await items.find(filter).sort({ _id: 1 }).toArray();
  return docs.map((doc) => doc._id);
}

describe('comparison operators respect BSON type brackets', () => {
  it.each([
    [{ n: { $gt: 5 } }, [2, 3]],
    [{ n: { $gte: 5 } }, [1, 2, 3]],
    [{ n: { $lt: 10 } }, [1, 5]],
    [{ n: { $lte: 10 } }, [1, 2, 5]],
    [{ n: { $eq: 15.5 } }, [3]],
    [{ n: { $ne: 5 } }, [2, 3, 4, 5]],
    [{ n: { $gt: '1' } }, [4]],
    [{ n: 10 }, [2]],
  ])('numbers and strings: %j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });

  it.each([
    [{ at: new Date('2024-01-01T00:00:00Z') }, [1]],
    [{ at: { $gte: new Date('2024-02-01T00:00:00Z') } }, [2, 3, 5]],
    [{ at: { $lt: new Date('2024-03-01T00:00:00Z') } }, [1, 2]],
    [{ at: { $gt: 'a' } }, []],
    [{ at: { $in: [new Date('2024-03-01T00:00:00Z'), new Date('2024-04-01T00:00:00Z')] } }, [3, 5]],
  ])('dates: %j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });

  it.each([
    [{ name: { $in: ['alpha', 'delta'] } }, [1, 4]],
    [{ name: { $nin: ['alpha', 'delta'] } }, [2, 3, 5]],
    [{ name: { $gt: 'c' } }, [3, 4]],
    [{ name: /^[a-d]/ }, [1, 2, 4]],
    [{ name: { $not: /^[a-d]/ } }, [3, 5]],
  ])('strings compare by code point: %j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });
});

describe('ObjectIds and nulls', () => {
  it.each([
    [{ owner: new ObjectId(ownerA.toHexString()) }, [1, 3]],
    [{ owner: { $in: [ownerB, null] } }, [2, 4, 5]],
    [{ owner: { $gt: ownerA } }, [2]],
    [{ owner: null }, [4, 5]],
    [{ owner: { $ne: null } }, [1, 2, 3]],
    [{ owner: { $exists: true } }, [1, 2, 3, 4]],
    [{ nul: null }, [1, 2, 3, 4, 5]],
    [{ nul: { $exists: true } }, [1]],
    [{ at: { $exists: false } }, [4]],
  ])('%j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });
});

describe('arrays', () => {
  it.each([
    [{ tags: 'b' }, [1, 2]],
    [{ tags: ['b'] }, [2]],
    [{ tags: [] }, [3]],
    [{ tags: { $in: ['a', 'x'] } }, [1]],
    [{ tags: { $nin: ['b'] } }, [3, 4, 5]],
    [{ tags: { $ne: 'b' } }, [3, 4, 5]],
    [{ tags: { $all: ['a', 'b'] } }, [1]],
    [{ tags: { $size: 0 } }, [3]],
    [{ 'nested.x': 1 }, [5]],
    [{ 'nested.y': 2 }, [5]],
  ])('%j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });
});

describe('_id lookups', () => {
  it.each([
    [{ _id: 3 }, [3]],
    [{ _id: { $in: [3, 1, 1, 99] } }, [1, 3]],
    [{ _id: { $in: [1, 2, 3], $ne: 2 } }, [1, 3]],
    [{ _id: { $in: [1, 2, 3] }, name: { $ne: 'alpha' } }, [2, 3]],
    [{ $and: [{ _id: { $in: [1, 2] } }, { name: 'beta' }] }, [2]],
    [{ _id: { $in: [] } }, []],
    [{ _id: { $gte: 4 } }, [4, 5]],
  ])('%j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });
});

describe('logical operators', () => {
  it.each([
    [{ $and: [{ n: { $gt: 1 } }, { n: { $lt: 12 } }] }, [1, 2]],
    [{ $or: [{ name: 'alpha' }, { n: { $gt: 12 } }] }, [1, 3]],
    [{ n: { $not: { $gt: 5 } } }, [1, 4, 5]],
    [{ at: { $not: { $lt: new Date('2024-03-01T00:00:00Z') } } }, [3, 4, 5]],
    [{ $nor: [{ tags: 'b' }, { n: '20' }] }, [3, 5]],
  ])('%j', async (filter, expected) => {
    expect(await ids(filter as Filter<Item>)).toEqual(expected);
  });

  it('rejects unknown operators with BadValue', async () => {
    const error = await caught(() => items.find({ n: { $bogus: 1 } } as Filter<Item>).toArray());
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(2);
    expect(error.message).toContain('unknown operator: $bogus');
  });
});

describe('sort, skip, limit and projection', () => {
  it('sorts mixed types in BSON order, missing fields as null', async () => {
    expect((await items.find().sort({ n: 1 }).toArray()).map((d) => d._id)).toEqual([5, 1, 2, 3, 4]);
    expect((await items.find().sort({ at: -1 }).toArray()).map((d) => d._id)).toEqual([5, 3, 2, 1, 4]);
    expect((await items.find().sort({ name: 1 }).toArray()).map((d) => d._id)).toEqual([5, 1, 2, 4, 3]);
    expect((await items.find().sort({ owner: 1, _id: -1 }).toArray()).map((d) => d._id)).toEqual([
      5, 4, 3, 1, 2,
    ]);
  });

  it('applies skip and limit after sorting', async () => {
    const docs = await items.find().sort({ _id: 1 }).skip(1).limit(2).toArray();
    expect(docs.map((d) => d._id)).toEqual([2, 3]);
  });

  it('projects inclusions, exclusions and nested fields', async () => {
    expect(await items.findOne({ _id: 1 }, { projection: { name: 1 } })).toEqual({ _id: 1, name: 'alpha' });
    expect(await items.findOne({ _id: 1 }, { projection: { name: 1, _id: 0 } })).toEqual({ name: 'alpha' });
    expect(await items.findOne({ _id: 1 }, { projection: { tags: 0, at: 0, owner: 0, nul: 0 } })).toEqual({
      _id: 1,
      name: 'alpha',
      n: 5,
    });
    expect(await items.findOne({ _id: 5 }, { projection: { 'nested.x': 1 } })).toEqual({
      _id: 5,
      nested: { x: 1 },
    });
  });

  it('keeps other fields with a $slice projection and never alters the stored document', async () => {
    expect(await items.findOne({ _id: 1 }, { projection: { tags: { $slice: 1 }, at: 0, owner: 0 } })).toEqual(
      {
        _id: 1,
        name: 'alpha',
        n: 5,
        tags: ['a'],
        nul: null,
      },
    );
    expect(await items.findOne({ _id: 5 }, { projection: { 'nested.y': 0 } })).toEqual({
      _id: 5,
      name: 'Epsilon',
      n: -1,
      at: new Date('2024-04-01T00:00:00Z'),
      nested: { x: 1 },
    });
    expect((await items.findOne({ _id: 5 }))?.nested).toEqual({ x: 1, y: [1, 2] });
    expect((await items.findOne({ _id: 1 }))?.tags).toEqual(['a', 'b']);
  });

  it('rejects projections mixing inclusion and exclusion', async () => {
    const error = await caught(() => items.findOne({}, { projection: { name: 1, tags: 0 } }));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(31254);
  });

  it('returns documents with their BSON types intact', async () => {
    const doc = await items.findOne({ _id: 1 });
    expect(doc?.at).toBeInstanceOf(Date);
    expect(doc?.owner).toBeInstanceOf(ObjectId);
    expect(doc?.owner?.equals(ownerA)).toBe(true);
  });
});

describe('counting and distinct', () => {
  it('countDocuments honours filter, skip and limit', async () => {
    expect(await items.countDocuments({ n: { $gt: 0 } })).toBe(3);
    expect(await items.countDocuments({}, { skip: 1, limit: 2 })).toBe(2);
    expect(await items.countDocuments({ name: 'nobody' })).toBe(0);
  });

  it('estimatedDocumentCount counts the collection', async () => {
    expect(await items.estimatedDocumentCount()).toBe(5);
  });

  it('distinct unwinds arrays and skips missing fields', async () => {
    expect((await items.distinct('tags')).sort()).toEqual(['a', 'b']);
    expect((await items.distinct('n', { n: { $gte: -1000 } })).sort((a, b) => Number(a) - Number(b))).toEqual(
      [-1, 5, 10, 15.5],
    );
    const owners = await items.distinct('owner');
    expect(owners).toHaveLength(3);
    expect(owners).toContainEqual(null);
  });

  it('counting a collection that does not exist gives zero', async () => {
    const missing = server.freshDb().collection('missing');
    expect(await missing.countDocuments()).toBe(0);
    expect(await missing.estimatedDocumentCount()).toBe(0);
    expect(await missing.distinct('x')).toEqual([]);
    expect(await missing.find().toArray()).toEqual([]);
  });
});

describe('aggregation', () => {
  it('groups, sums and sorts', async () => {
    const result = await items
      .aggregate([
        { $match: { n: { $gte: -1000 } } },
        { $group: { _id: '$owner', total: { $sum: '$n' }, count: { $sum: 1 } } },
        { $sort: { total: -1 } },
      ])
      .toArray();
    expect(result).toEqual([
      { _id: ownerA, total: 20.5, count: 2 },
      { _id: ownerB, total: 10, count: 1 },
      { _id: null, total: -1, count: 1 },
    ]);
  });

  it('projects computed fields and limits', async () => {
    const result = await items
      .aggregate([
        { $match: { n: { $gte: -1000 } } },
        { $sort: { _id: 1 } },
        { $project: { _id: 0, name: 1, double: { $multiply: ['$n', 2] } } },
        { $limit: 2 },
      ])
      .toArray();
    expect(result).toEqual([
      { name: 'alpha', double: 10 },
      { name: 'beta', double: 20 },
    ]);
  });

  it('counts', async () => {
    expect(await items.aggregate([{ $match: { tags: 'b' } }, { $count: 'withB' }]).toArray()).toEqual([
      { withB: 2 },
    ]);
  });

  it('does not let pipeline stages alter stored documents', async () => {
    const unwound = await items.aggregate([{ $match: { _id: 1 } }, { $unwind: '$tags' }]).toArray();
    expect(unwound.map((d) => d.tags)).toEqual(['a', 'b']);
    expect((await items.findOne({ _id: 1 }))?.tags).toEqual(['a', 'b']);
  });

  it('rejects unknown stages', async () => {
    const error = await caught(() => items.aggregate([{ $bogus: {} }]).toArray());
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(40324);
  });
});
