import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './harness.js';

// Many clients on many connections at once, as several scheduler instances would be.

const CLIENTS = 8;

let server: TestServer;
let clients: MongoClient[];
let dbName: string;

beforeAll(async () => {
  server = await startTestServer();
  dbName = server.freshDb().databaseName;
  clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => new MongoClient(server.uri, { maxPoolSize: 4 }).connect()),
  );
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
});

interface Lock {
  _id: string;
  owner: number | null;
}

it('lets exactly one of many concurrent findOneAndUpdate claims win', async () => {
  const locks = server.client.db(dbName).collection<Lock>('locks');
  await locks.insertOne({ _id: 'nightly', owner: null });
  const attempts = clients.flatMap((client, c) =>
    Array.from({ length: 5 }, (_, i) =>
      client
        .db(dbName)
        .collection<Lock>('locks')
        .findOneAndUpdate(
          { _id: 'nightly', owner: null },
          { $set: { owner: c * 10 + i } },
          { returnDocument: 'after' },
        ),
    ),
  );
  const winners = (await Promise.all(attempts)).filter((result) => result !== null);
  expect(winners).toHaveLength(1);
  expect((await locks.findOne({ _id: 'nightly' }))?.owner).toBe(winners[0]?.owner);
});

it('keeps every write from parallel connections', async () => {
  await Promise.all(
    clients.map((client, c) =>
      client
        .db(dbName)
        .collection('events')
        .insertMany(Array.from({ length: 250 }, (_, i) => ({ client: c, i }))),
    ),
  );
  const events = server.client.db(dbName).collection('events');
  expect(await events.countDocuments()).toBe(CLIENTS * 250);
  await Promise.all(
    clients.map((client, c) =>
      client
        .db(dbName)
        .collection('events')
        .updateMany({ client: c }, { $inc: { i: 1000 } }),
    ),
  );
  expect(await events.countDocuments({ i: { $gte: 1000 } })).toBe(CLIENTS * 250);
});
