import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MongoEmulator, startMongoEmulator } from '../index.js';
import { caught, waitFor } from './harness.js';

// Emulator-specific: outages, restarts and the command counters tests use.

let emulator: MongoEmulator;
let client: MongoClient;

beforeAll(async () => {
  emulator = await startMongoEmulator({ port: 0 });
  client = new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 300, heartbeatFrequencyMS: 500 });
  await client.connect();
});

afterAll(async () => {
  await client.close();
  await emulator.close();
});

describe('stop() and start()', () => {
  it('fails while stopped and recovers on the same port with the same data, same client', async () => {
    const items = client.db('life').collection<{ _id: number }>('items');
    await items.insertOne({ _id: 1 });
    const { uri, port } = emulator;

    await emulator.stop();
    expect(emulator.running).toBe(false);
    await caught(() => items.findOne({ _id: 1 }));

    await emulator.start();
    expect(emulator.running).toBe(true);
    expect(emulator.uri).toBe(uri);
    expect(emulator.port).toBe(port);
    await waitFor(
      async () => {
        try {
          return (await items.findOne({ _id: 1 })) !== null;
        } catch {
          return false;
        }
      },
      10_000,
      50,
    );
    await items.insertOne({ _id: 2 });
    expect(await items.countDocuments()).toBe(2);
  });

  it('stop() and start() are idempotent', async () => {
    await emulator.start();
    await emulator.stop();
    await emulator.stop();
    await emulator.start();
    expect(emulator.running).toBe(true);
  });
});

describe('commandCounts()', () => {
  it('counts commands by name', async () => {
    const fresh = await startMongoEmulator();
    const other = new MongoClient(fresh.uri);
    try {
      const coll = other.db('counts').collection('c');
      await coll.insertOne({ a: 1 });
      await coll.find().toArray();
      await coll.find().toArray();
      const counts = fresh.commandCounts();
      expect(counts.insert).toBe(1);
      expect(counts.find).toBe(2);
      expect(counts.ismaster ?? counts.isMaster ?? counts.hello).toBeGreaterThan(0);
    } finally {
      await other.close();
      await fresh.close();
    }
  });
});

describe('close()', () => {
  it('frees the port for good', async () => {
    const doomed = await startMongoEmulator();
    await doomed.close();
    expect(doomed.running).toBe(false);
    await expect(doomed.start()).rejects.toThrow(/after close/);
  });
});
