import { MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught, startTestServer, type TestServer } from './harness.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.close();
});

describe('server commands', () => {
  it('answers ping, hello and buildInfo', async () => {
    const admin = server.client.db('admin');
    expect((await admin.command({ ping: 1 })).ok).toBe(1);
    const hello = await admin.command({ hello: 1 });
    expect(hello.isWritablePrimary).toBe(true);
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(9);
    expect(typeof (await admin.command({ buildInfo: 1 })).version).toBe('string');
  });

  it('rejects unknown commands with CommandNotFound', async () => {
    const error = await caught(() => server.client.db('admin').command({ definitelyNotACommand: 1 }));
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(59);
    expect(error.codeName).toBe('CommandNotFound');
    expect(error.message).toBe("no such command: 'definitelyNotACommand'");
  });
});

describe('collections and databases', () => {
  it('creates collections implicitly and explicitly, and lists them', async () => {
    const db = server.freshDb();
    await db.collection('implicit').insertOne({ a: 1 });
    await db.createCollection('explicit');
    const names = (await db.listCollections().toArray()).map((info) => info.name).sort();
    expect(names).toEqual(['explicit', 'implicit']);
    const [info] = await db.listCollections({ name: 'implicit' }).toArray();
    expect(info).toMatchObject({ name: 'implicit', type: 'collection' });
    const nameOnly = await db.listCollections({}, { nameOnly: true }).toArray();
    expect(nameOnly).toHaveLength(2);
    const error = await caught(() => db.createCollection('explicit'));
    expect(error.code).toBe(48);
  });

  it('drops a collection with its documents and indexes', async () => {
    const db = server.freshDb();
    const coll = db.collection('doomed');
    await coll.insertMany([{ a: 1 }, { a: 2 }]);
    await coll.createIndex({ a: 1 }, { unique: true });
    expect(await coll.drop()).toBe(true);
    expect(await coll.countDocuments()).toBe(0);
    expect((await db.listCollections().toArray()).map((info) => info.name)).toEqual([]);
    await coll.insertMany([{ a: 1 }, { a: 1 }]);
    expect((await coll.listIndexes().toArray()).map((index) => index.name)).toEqual(['_id_']);
  });

  it('dropping a missing collection is not an error', async () => {
    const db = server.freshDb();
    await expect(db.collection('never').drop()).resolves.toBeTypeOf('boolean');
  });

  it('drops a whole database', async () => {
    const db = server.freshDb();
    await db.collection('a').insertOne({ x: 1 });
    await db.collection('b').insertOne({ x: 1 });
    await db.dropDatabase();
    expect(await db.listCollections().toArray()).toEqual([]);
    const { databases } = await server.client.db('admin').admin().listDatabases();
    expect(databases.map((d) => d.name)).not.toContain(db.databaseName);
  });

  it('lists databases that hold collections', async () => {
    const db = server.freshDb();
    await db.collection('c').insertOne({ x: 1 });
    const { databases } = await server.client.db('admin').admin().listDatabases();
    expect(databases.map((d) => d.name)).toContain(db.databaseName);
  });

  it('keeps databases and collections isolated', async () => {
    const one = server.freshDb();
    const two = server.freshDb();
    type Tagged = { _id: number; from: string };
    await one.collection<Tagged>('shared').insertOne({ _id: 1, from: 'one' });
    await two.collection<Tagged>('shared').insertOne({ _id: 1, from: 'two' });
    await one.collection<Tagged>('other').insertOne({ _id: 1, from: 'other' });
    expect(await one.collection('shared').find().toArray()).toEqual([{ _id: 1, from: 'one' }]);
    expect(await two.collection('shared').find().toArray()).toEqual([{ _id: 1, from: 'two' }]);
    await one.dropDatabase();
    expect(await two.collection('shared').countDocuments()).toBe(1);
  });

  it('rejects invalid collection names', async () => {
    const error = await caught(() => server.freshDb().collection('bad$name').insertOne({ a: 1 }));
    expect(error.code).toBe(73);
  });
});
