import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTION_NAMES, type LeaseDoc } from '../../db/collections.js';
import { LeasesRepository } from '../../db/repositories/leases.js';

import { type MongoEmulator, startMongoEmulator } from '../support/mongo-emulator/index.js';

const LEASES_COLLECTION = COLLECTION_NAMES.leases;

/**
 * Leases are set and judged with the database server's clock: the emulator's clock is moved here,
 * the instances have none to pass, so a host whose clock is off cannot take a live lease (#10.10).
 */
describe('leases on the server clock', () => {
  let serverNow = Date.parse('2030-01-01T00:00:00Z');
  let emulator: MongoEmulator;
  let client: MongoClient;
  let leases: LeasesRepository;

  beforeAll(async () => {
    emulator = await startMongoEmulator({ port: 0, now: () => new Date(serverNow) });
    client = new MongoClient(emulator.uri);
    await client.connect();
    leases = new LeasesRepository(client.db('server_time').collection<LeaseDoc>(LEASES_COLLECTION));
  });
  afterAll(async () => {
    await client.close();
    await emulator.close();
  });

  it('#10.10 a lease is held until the server says it expired, whatever the instances think the time is', async () => {
    expect(await leases.acquire('polling', 'a', 60_000)).toBe(true);
    const stored = await client.db('server_time').collection<LeaseDoc>(LEASES_COLLECTION).findOne({});
    expect(stored?.expires_at).toEqual(new Date(serverNow + 60_000));

    serverNow += 59_000;
    expect(await leases.acquire('polling', 'b', 60_000)).toBe(false);
    // The holder renews: the lease runs a full minute from the server's now again.
    expect(await leases.acquire('polling', 'a', 60_000)).toBe(true);
    serverNow += 59_000;
    expect(await leases.acquire('polling', 'b', 60_000)).toBe(false);

    serverNow += 2_000;
    expect(await leases.acquire('polling', 'b', 60_000)).toBe(true);
    expect(await leases.acquire('polling', 'a', 60_000)).toBe(false);
  });
});
