import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './harness.js';

describe('equality on every field of a compound index', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('finds exactly the matching documents, with $in, arrays, missing fields and updates', async () => {
    const coll = server.freshDb().collection<{ _id: number; a?: number; b?: unknown }>('c');
    await coll.createIndex({ a: 1, b: 1 });
    await coll.createIndex({ a: 1, _id: 1 });
    await coll.insertMany([
      { _id: 1, a: 1, b: 1 },
      { _id: 2, a: 1, b: 2 },
      { _id: 3, a: 2, b: 1 },
      { _id: 4, a: 1, b: [2, 3] },
      { _id: 5, a: 1 },
      { _id: 6, a: 1, b: null },
    ]);
    const ids = async (filter: object) =>
      (await coll.find(filter).sort({ _id: 1 }).toArray()).map((doc) => doc._id);

    expect(await ids({ a: 1, b: 2 })).toEqual([2, 4]);
    expect(await ids({ a: 1, b: { $in: [1, 3] } })).toEqual([1, 4]);
    expect(await ids({ a: { $in: [1, 2] }, b: 1 })).toEqual([1, 3]);
    expect(await ids({ a: 1, b: null })).toEqual([5, 6]);
    expect(await ids({ a: 1, b: 2, _id: { $gt: 2 } })).toEqual([4]);

    await coll.updateOne({ _id: 2 }, { $set: { b: 9 } });
    await coll.deleteOne({ _id: 4 });
    expect(await ids({ a: 1, b: 2 })).toEqual([]);
    expect(await ids({ a: 1, b: 9 })).toEqual([2]);
  });
});
