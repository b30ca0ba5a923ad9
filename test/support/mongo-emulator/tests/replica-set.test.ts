import {
  Long,
  MongoClient,
  MongoServerError,
  type ServerHeartbeatFailedEvent,
  type ServerHeartbeatSucceededEvent,
  Timestamp,
  UUID,
} from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MongoEmulator, startMongoEmulator } from '../index.js';
import { caught } from './harness.js';

// Emulator-specific: the single-node replica set mode (--replset / the replSet option).

let emulator: MongoEmulator;
let client: MongoClient;
/**
 * The driver pools server sessions: a new explicit session may reuse one whose txnNumber has
 * moved on, so each test's numbers are above every earlier one. Hand-numbered writes go through
 * their own client (`manual`), since the driver's own retryable writes on a pooled session count
 * from its own txnNumber and the server would rightly refuse them as too old.
 */
let manual: MongoClient;
let txnBase = 1_000;
const nextTxnBase = () => {
  txnBase += 1_000;
  return txnBase;
};

beforeAll(async () => {
  emulator = await startMongoEmulator({ port: 0, replSet: 'rs-test' });
  client = new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  manual = new MongoClient(emulator.uri);
  await manual.connect();
});

afterAll(async () => {
  await manual.close();
  await client.close();
  await emulator.close();
});

describe('replica set mode', () => {
  it('puts replicaSet in its URI and answers hello as a single-node set primary', async () => {
    expect(emulator.uri).toBe(`mongodb://127.0.0.1:${emulator.port}/?replicaSet=rs-test`);
    const me = `127.0.0.1:${emulator.port}`;
    const hello = await client.db('admin').command({ hello: 1 });
    expect(hello).toMatchObject({
      setName: 'rs-test',
      hosts: [me],
      primary: me,
      me,
      isWritablePrimary: true,
      secondary: false,
      setVersion: 1,
      logicalSessionTimeoutMinutes: 30,
      ok: 1,
    });
    expect(hello.topologyVersion.processId).toBeDefined();
    expect(hello.$clusterTime.clusterTime).toBeInstanceOf(Timestamp);
    expect(hello.operationTime).toBeInstanceOf(Timestamp);
    const legacy = await client.db('admin').command({ isMaster: 1 });
    expect(legacy).toMatchObject({ ismaster: true, setName: 'rs-test', secondary: false });
  });

  it('is discovered by the driver through ?replicaSet= as the primary, and writes with w: majority', async () => {
    expect(client.options.replicaSet).toBe('rs-test');
    const coll = client.db('rs').collection<{ _id: number; n: number }>('discovered');
    await coll.insertOne({ _id: 1, n: 1 }, { writeConcern: { w: 'majority' } });
    const read = await coll.findOne({ _id: 1 }, { readConcern: { level: 'majority' } });
    expect(read).toEqual({ _id: 1, n: 1 });
    const description = (client as unknown as { topology: { description: { type: string } } }).topology
      .description;
    expect(description.type).toBe('ReplicaSetWithPrimary');
  });

  it('advances the cluster time on writes', async () => {
    const before = (await client.db('admin').command({ ping: 1 })).operationTime as Timestamp;
    await client.db('rs').collection('clock').insertOne({ x: 1 });
    const after = (await client.db('admin').command({ ping: 1 })).operationTime as Timestamp;
    expect(after.greaterThan(before)).toBe(true);
  });

  it('streams awaitable hellos to the driver monitor without heartbeat failures', async () => {
    const watcher = new MongoClient(emulator.uri, { heartbeatFrequencyMS: 500 });
    const succeeded: ServerHeartbeatSucceededEvent[] = [];
    const failed: ServerHeartbeatFailedEvent[] = [];
    watcher.on('serverHeartbeatSucceeded', (event) => succeeded.push(event));
    watcher.on('serverHeartbeatFailed', (event) => failed.push(event));
    try {
      await watcher.connect();
      await new Promise((resolve) => setTimeout(resolve, 1_800));
      expect(failed).toEqual([]);
      expect(succeeded.filter((event) => event.awaited).length).toBeGreaterThanOrEqual(2);
      await expect(watcher.db('rs').collection('stream').insertOne({ ok: true })).resolves.toBeDefined();
    } finally {
      await watcher.close();
    }
  });
});

describe('retryable writes', () => {
  it('a write retried with the same lsid and txnNumber is not applied twice', async () => {
    const db = manual.db('rs');
    await client.db('rs').collection<{ _id: string; n: number }>('counters').insertOne({ _id: 'c', n: 0 });
    const session = manual.startSession();
    const base = nextTxnBase();
    try {
      const increment = (txnNumber: number) =>
        db.command(
          {
            update: 'counters',
            updates: [{ q: { _id: 'c' }, u: { $inc: { n: 1 } } }],
            txnNumber: Long.fromNumber(base + txnNumber),
          },
          { session },
        );
      const first = await increment(1);
      expect(first).toMatchObject({ n: 1, nModified: 1 });
      const retry = await increment(1);
      expect(retry).toMatchObject({ n: 1, nModified: 1, retriedStmtIds: [0] });
      expect((await db.collection('counters').findOne({ _id: 'c' as never }))?.n).toBe(1);

      // A new txnNumber is a new write.
      await increment(2);
      expect((await db.collection('counters').findOne({ _id: 'c' as never }))?.n).toBe(2);

      // An older one is refused.
      const old = await caught(() => increment(1));
      expect(old).toBeInstanceOf(MongoServerError);
      expect(old.code).toBe(225);
      expect(old.codeName).toBe('TransactionTooOld');
    } finally {
      await session.endSession();
    }
  });

  it('an insert retried after its reply was lost does not fail with a duplicate key', async () => {
    const db = manual.db('rs');
    const session = manual.startSession();
    const txnNumber = Long.fromNumber(nextTxnBase());
    try {
      const insert = () =>
        db.command({ insert: 'retried', documents: [{ _id: 1 }, { _id: 2 }], txnNumber }, { session });
      expect(await insert()).toMatchObject({ n: 2, ok: 1 });
      expect(await insert()).toMatchObject({ n: 2, ok: 1, retriedStmtIds: [0, 1] });
      expect(await db.collection('retried').countDocuments()).toBe(2);
    } finally {
      await session.endSession();
    }
  });

  it('findAndModify answers its first result when retried', async () => {
    const db = manual.db('rs');
    await client
      .db('rs')
      .collection<{ _id: string; state: string; claims: number }>('jobs')
      .insertOne({ _id: 'j', state: 'idle', claims: 0 });
    const session = manual.startSession();
    const txnNumber = Long.fromNumber(nextTxnBase());
    try {
      const claim = () =>
        db.command(
          {
            findAndModify: 'jobs',
            query: { _id: 'j' },
            update: { $set: { state: 'running' }, $inc: { claims: 1 } },
            new: true,
            txnNumber,
          },
          { session },
        );
      const first = await claim();
      const second = await claim();
      expect(second.value).toEqual(first.value);
      expect((await db.collection('jobs').findOne({ _id: 'j' as never }))?.claims).toBe(1);
    } finally {
      await session.endSession();
    }
  });

  it('the driver sends lsid and txnNumber on its own for single-document writes', async () => {
    const commands: Record<string, unknown>[] = [];
    const watched = new MongoClient(emulator.uri, { monitorCommands: true });
    watched.on('commandStarted', (event) => commands.push(event.command));
    try {
      await watched.db('rs').collection('auto').insertOne({ a: 1 });
      await watched
        .db('rs')
        .collection('auto')
        .updateMany({}, { $set: { b: 1 } });
    } finally {
      await watched.close();
    }
    const insert = commands.find((command) => command.insert === 'auto');
    expect(insert?.lsid).toBeDefined();
    expect(insert?.txnNumber).toBeDefined();
    const updateMany = commands.find((command) => command.update === 'auto');
    expect(updateMany?.txnNumber).toBeUndefined();
  });

  it('refuses txnNumber on commands that are not retryable writes and on multi updates', async () => {
    const session = manual.startSession();
    try {
      const find = await caught(() =>
        manual.db('rs').command({ find: 'auto', txnNumber: Long.fromNumber(nextTxnBase()) }, { session }),
      );
      expect(find.code).toBe(50768);
      const multi = await caught(() =>
        manual.db('rs').command(
          {
            update: 'auto',
            updates: [{ q: {}, u: { $set: { c: 1 } }, multi: true }],
            txnNumber: Long.fromNumber(nextTxnBase()),
          },
          { session },
        ),
      );
      expect(multi.code).toBe(72);
    } finally {
      await session.endSession();
    }
  });
});

describe('standalone mode', () => {
  it('refuses transaction numbers as a standalone mongod does', async () => {
    const standalone = await startMongoEmulator({ port: 0 });
    const plain = new MongoClient(standalone.uri);
    try {
      const hello = await plain.db('admin').command({ hello: 1 });
      expect(hello.setName).toBeUndefined();
      expect(hello.$clusterTime).toBeUndefined();
      const error = await caught(() =>
        plain.db('s').command({
          insert: 'c',
          documents: [{ _id: 1 }],
          txnNumber: Long.fromNumber(1),
          lsid: { id: new UUID() },
        }),
      );
      expect(error.code).toBe(20);
      expect(error.message).toBe('Transaction numbers are only allowed on a replica set member or mongos');
    } finally {
      await plain.close();
      await standalone.close();
    }
  });
});
