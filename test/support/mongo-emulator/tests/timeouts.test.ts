import { MongoClient, MongoServerError } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { type MongoEmulator, type MongoEmulatorOptions, startMongoEmulator } from '../index.js';
import { caught, waitFor } from './harness.js';

// Emulator-specific: the TTL monitor's interval and idle cursor/session timeouts, with mongod's defaults.

const opened: Array<{ emulator: MongoEmulator; client: MongoClient }> = [];

async function open(options: MongoEmulatorOptions = {}) {
  const emulator = await startMongoEmulator({ port: 0, ...options });
  const client = new MongoClient(emulator.uri);
  await client.connect();
  opened.push({ emulator, client });
  return { emulator, client };
}

afterEach(async () => {
  for (const { emulator, client } of opened.splice(0)) {
    await client.close();
    await emulator.close();
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TTL monitor interval', () => {
  it("defaults to mongod's ttlMonitorSleepSecs (60) and cursorTimeoutMillis (10 minutes)", async () => {
    const { client } = await open();
    const parameters = await client
      .db('admin')
      .command({ getParameter: 1, ttlMonitorSleepSecs: 1, cursorTimeoutMillis: 1 });
    expect(parameters).toMatchObject({ ttlMonitorSleepSecs: 60, cursorTimeoutMillis: 600_000 });
  });

  it('does not remove an expired document before its next pass', async () => {
    const { client } = await open();
    const coll = client.db('ttl').collection('expiring');
    await coll.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
    await coll.insertOne({ at: new Date(Date.now() - 60_000) });
    await sleep(300);
    expect(await coll.countDocuments()).toBe(1);
  });

  it('removes it within a configured interval', async () => {
    const { client } = await open({ ttlSweepIntervalMs: 50 });
    const coll = client.db('ttl').collection('expiring');
    await coll.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
    await coll.insertOne({ at: new Date(Date.now() - 60_000) });
    await waitFor(async () => (await coll.countDocuments()) === 0, 2_000);
  });
});

describe('idle cursors', () => {
  async function seeded(options: MongoEmulatorOptions) {
    const { client } = await open(options);
    const coll = client.db('cursors').collection<{ _id: number }>('rows');
    await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i })));
    return coll;
  }

  it('a getMore after cursorTimeoutMillis of idleness answers CursorNotFound (43)', async () => {
    const coll = await seeded({ cursorTimeoutMs: 150 });
    const cursor = coll.find().batchSize(2);
    expect(await cursor.next()).toEqual({ _id: 0 });
    await cursor.next();
    await sleep(400);
    const error = await caught(() => cursor.next());
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error.code).toBe(43);
    expect(error.codeName).toBe('CursorNotFound');
    await cursor.close();
  });

  it('a cursor used within the timeout stays open', async () => {
    const coll = await seeded({ cursorTimeoutMs: 300 });
    const cursor = coll.find().batchSize(2);
    const seen: unknown[] = [];
    for await (const doc of cursor) {
      seen.push(doc);
      await sleep(60);
    }
    expect(seen).toHaveLength(10);
  });

  it('in a replica set, a cursor opened in a session lives as long as the session, not cursorTimeoutMillis', async () => {
    const coll = await seeded({ replSet: 'rs-timeouts', cursorTimeoutMs: 100, sessionTimeoutMs: 600 });
    const cursor = coll.find().batchSize(2);
    await cursor.next();
    await cursor.next();
    await sleep(300); // past cursorTimeoutMillis, within the session timeout
    expect(await cursor.next()).toEqual({ _id: 2 });
    await cursor.next();
    await sleep(900); // past the session timeout
    const error = await caught(() => cursor.next());
    expect(error.code).toBe(43);
    await cursor.close();
  });
});
