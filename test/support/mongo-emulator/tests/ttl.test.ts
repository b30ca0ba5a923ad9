import { type Collection, MongoClient } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type MongoEmulator, startMongoEmulator } from '../index.js';
import { waitFor } from './harness.js';

// Emulator-specific: drives the TTL monitor with an injected clock instead of waiting minutes.

interface Session {
  _id: string;
  expiresAt?: unknown;
  createdAt?: Date;
  kind?: string;
}

const T0 = new Date('2030-01-01T00:00:00Z').getTime();
let clock = T0;
let emulator: MongoEmulator;
let client: MongoClient;
let sessions: Collection<Session>;

beforeAll(async () => {
  emulator = await startMongoEmulator({ port: 0, ttlSweepIntervalMs: 5, now: () => new Date(clock) });
  client = new MongoClient(emulator.uri);
  sessions = client.db('ttl').collection<Session>('sessions');
  await sessions.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
  await sessions.createIndex(
    { createdAt: 1 },
    { expireAfterSeconds: 60, partialFilterExpression: { kind: 'temp' } },
  );
});

afterAll(async () => {
  await client.close();
  await emulator.close();
});

async function remaining(): Promise<string[]> {
  return (await sessions.find().sort({ _id: 1 }).toArray()).map((s) => s._id);
}

/** A document already expired at the current clock; once it is gone, a sweep has run. */
async function sweepObserved(): Promise<void> {
  const id = `sentinel-${clock}`;
  await sessions.insertOne({ _id: id, expiresAt: new Date(clock - 1) });
  await waitFor(async () => (await sessions.countDocuments({ _id: id })) === 0);
}

it('expires documents by date + expireAfterSeconds, earliest array date, never non-dates', async () => {
  await sessions.insertMany([
    { _id: 'a', expiresAt: new Date(T0 + 10_000) },
    { _id: 'b', expiresAt: [new Date(T0 + 100_000), new Date(T0 + 5_000)] },
    { _id: 'c', expiresAt: 'not a date' },
    { _id: 'd' },
    { _id: 'e', createdAt: new Date(T0), kind: 'temp' },
    { _id: 'f', createdAt: new Date(T0), kind: 'keep' },
  ]);

  await sweepObserved();
  expect(await remaining()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);

  clock = T0 + 6_000;
  await sweepObserved();
  expect(await remaining()).toEqual(['a', 'c', 'd', 'e', 'f']);

  clock = T0 + 61_000;
  await sweepObserved();
  // 'e' expired through the partial TTL index; 'f' is outside its filter.
  expect(await remaining()).toEqual(['c', 'd', 'f']);
});
