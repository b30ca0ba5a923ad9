import {
  type Collection,
  type CommandSucceededEvent,
  type Document,
  MongoClient,
  MongoServerError,
} from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caught, startTestServer, type TestServer } from './harness.js';

interface Row {
  _id: number;
  group: string;
}

let server: TestServer;
let client: MongoClient;
let rows: Collection<Row>;
let replies: CommandSucceededEvent[] = [];

beforeAll(async () => {
  server = await startTestServer();
  const dbName = server.freshDb().databaseName;
  // A second client with command monitoring shows the getMore traffic the driver generates.
  client = new MongoClient(server.uri, { monitorCommands: true });
  client.on('commandSucceeded', (event) => replies.push(event));
  await client.connect();
  rows = client.db(dbName).collection<Row>('rows');
  await rows.insertMany(
    Array.from({ length: 25 }, (_, i) => ({ _id: i + 1, group: i % 2 ? 'odd' : 'even' })),
  );
});

afterAll(async () => {
  await client.close();
  await server.close();
});

beforeEach(() => {
  replies = [];
});

function batchesOf(command: string, field: 'firstBatch' | 'nextBatch'): Document[][] {
  return replies
    .filter((event) => event.commandName === command)
    .map((event) => (event.reply as { cursor: Record<string, Document[]> }).cursor[field] ?? []);
}

describe('cursors', () => {
  it('streams a result in batches of batchSize through getMore', async () => {
    const seen = (await rows.find().batchSize(5).toArray()).map((row) => row._id);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(batchesOf('find', 'firstBatch').map((batch) => batch.length)).toEqual([5]);
    const more = batchesOf('getMore', 'nextBatch').map((batch) => batch.length);
    expect(more.length).toBeGreaterThanOrEqual(4);
    expect(more.every((size) => size <= 5)).toBe(true);
    expect(more.reduce((a, b) => a + b, 0)).toBe(20);
  });

  it('closes the cursor in the first reply when everything fits', async () => {
    const docs = await rows.find({ group: 'odd' }).batchSize(100).toArray();
    expect(docs).toHaveLength(12);
    const find = replies.find((event) => event.commandName === 'find') as CommandSucceededEvent;
    expect(String((find.reply as { cursor: { id: unknown } }).cursor.id)).toBe('0');
    expect(replies.some((event) => event.commandName === 'getMore')).toBe(false);
  });

  it('stops at the limit even across batches', async () => {
    const docs = await rows.find().sort({ _id: -1 }).limit(7).batchSize(3).toArray();
    expect(docs.map((row) => row._id)).toEqual([25, 24, 23, 22, 21, 20, 19]);
  });

  it('kills a cursor closed early, after which getMore fails with CursorNotFound', async () => {
    const cursor = rows.find().batchSize(2);
    await cursor.next();
    const id = cursor.id;
    await cursor.close();
    expect(replies.some((event) => event.commandName === 'killCursors')).toBe(true);
    const error = await caught(() =>
      client.db(rows.dbName).command({ getMore: id, collection: rows.collectionName }),
    );
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(43);
  });

  it('aggregation cursors page too', async () => {
    const docs = await rows
      .aggregate([{ $match: { group: 'even' } }, { $sort: { _id: 1 } }], { batchSize: 4 })
      .toArray();
    expect(docs.map((row) => row._id)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25]);
    expect(batchesOf('aggregate', 'firstBatch').map((batch) => batch.length)).toEqual([4]);
    expect(replies.filter((event) => event.commandName === 'getMore').length).toBeGreaterThanOrEqual(3);
  });

  it('supports deleting each batch while iterating (drain pattern)', async () => {
    const drain = client.db(rows.dbName).collection<{ _id: number; job: string }>('drain');
    await drain.createIndex({ job: 1 });
    await drain.insertMany(Array.from({ length: 55 }, (_, i) => ({ _id: i, job: i < 50 ? 'a' : 'b' })));
    const seen: number[] = [];
    const cursor = drain.find({ job: 'a' }).batchSize(10);
    let batch: number[] = [];
    for await (const doc of cursor) {
      batch.push(doc._id);
      if (batch.length === 10) {
        seen.push(...batch);
        await drain.deleteMany({ _id: { $in: batch } });
        batch = [];
      }
    }
    seen.push(...batch);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await drain.countDocuments({ job: 'a' })).toBe(0);
    expect(await drain.countDocuments()).toBe(5);
  });
});
