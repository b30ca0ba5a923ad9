import { performance } from 'node:perf_hooks';
import { type Document, MongoClient, type ObjectId } from 'mongodb';
import { startMongoEmulator } from './index.js';

/*
 * Throughput check for the workloads the project's benchmarks put on the emulator.
 * Run: npx tsx test/support/mongo-emulator/benchmark.ts
 */

const TOTAL = 200_000;
const INSERT_BATCH = 1_000;
const DRAIN_BATCH = 500;

async function timed<T>(label: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await action();
  console.log(`${label.padEnd(62)} ${(performance.now() - started).toFixed(0).padStart(6)} ms`);
  return result;
}

function makeDocs(from: number, count: number, broadcastId: string): Document[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: from + i,
    broadcast_id: broadcastId,
    chat_id: 1_000_000 + ((from + i) % 5_000),
    created_at: new Date(1_700_000_000_000 + (from + i) * 1000),
    status: 'pending',
    payload: 'x'.repeat(64),
  }));
}

async function insertAll(collection: ReturnType<ReturnType<MongoClient['db']>['collection']>, total: number) {
  for (let from = 0; from < total; from += INSERT_BATCH) {
    await collection.insertMany(makeDocs(from, INSERT_BATCH, from < total / 2 ? 'B1' : 'B2'));
  }
}

const emulator = await startMongoEmulator();
const client = new MongoClient(emulator.uri);
try {
  const db = client.db('bench');

  const records = db.collection('records');
  await records.createIndex({ broadcast_id: 1 });
  await timed(`insertMany ${TOTAL} docs in batches of ${INSERT_BATCH} (1 secondary index)`, () =>
    insertAll(records, TOTAL),
  );
  await timed('countDocuments({status: "pending"}) over 200k (scan)', () =>
    records.countDocuments({ status: 'pending' }),
  );
  await timed('countDocuments({broadcast_id: "B1"}) (index lookup)', () =>
    records.countDocuments({ broadcast_id: 'B1' }),
  );
  await timed('1000 x findOne({_id}) round trips', async () => {
    const sample = await records
      .find({}, { projection: { _id: 1 } })
      .limit(1000)
      .toArray();
    for (const doc of sample) await records.findOne({ _id: doc._id });
  });
  const drained = await timed(
    `find({broadcast_id: "B1"}).batchSize(${DRAIN_BATCH}) + deleteMany({_id: {$in}}) per batch`,
    async () => {
      let batch: ObjectId[] = [];
      let total = 0;
      for await (const doc of records.find({ broadcast_id: 'B1' }).batchSize(DRAIN_BATCH)) {
        batch.push(doc._id);
        if (batch.length === DRAIN_BATCH) {
          total += (await records.deleteMany({ _id: { $in: batch } })).deletedCount;
          batch = [];
        }
      }
      if (batch.length > 0) total += (await records.deleteMany({ _id: { $in: batch } })).deletedCount;
      return total;
    },
  );
  console.log(`  drained ${drained} documents`);
  await timed('deleteMany({seq: {$gte: 100000, $lt: 150000}}) (range scan)', () =>
    records.deleteMany({ seq: { $gte: 100_000, $lt: 150_000 } }),
  );

  const fresh = db.collection('fresh');
  await timed(`insertMany ${TOTAL} docs in batches of ${INSERT_BATCH} (no secondary index)`, () =>
    insertAll(fresh, TOTAL),
  );
  const deleted = await timed('deleteMany({created_at: {$lt: <midpoint>}}) over 200k (range scan)', () =>
    fresh.deleteMany({ created_at: { $lt: new Date(1_700_000_000_000 + (TOTAL / 2) * 1000) } }),
  );
  console.log(`  deleted ${deleted.deletedCount} documents`);
  await timed('find().sort({seq: -1}).limit(10) over 100k', () =>
    fresh.find().sort({ seq: -1 }).limit(10).toArray(),
  );
  console.log(`heap used: ${(process.memoryUsage().heapUsed / 1024 / 1024).toFixed(0)} MB`);
} finally {
  await client.close();
  await emulator.close();
}
