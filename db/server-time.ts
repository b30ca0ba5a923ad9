import type { Collection, Document, Filter } from 'mongodb';

/**
 * Each host's clock is its own. Leases, heartbeats and staleness between instances are written
 * and judged with the database server's clock (`$$NOW` in update pipelines and `$expr` filters),
 * the same value for every client, so instances whose clocks differ still agree on who is alive.
 */

export const SERVER_NOW = '$$NOW';

/** `$$NOW + ms`, for a pipeline `$set`. */
export function serverNowPlus(ms: number): Document {
  return { $add: [SERVER_NOW, ms] };
}

/** Matches documents whose `field` is more than `ms` older than the server's clock. */
export function olderThanServerNow(field: string, ms: number): Document {
  return { $expr: { $lt: [`$${field}`, { $subtract: [SERVER_NOW, ms] }] } };
}

/** Matches documents whose `field` is at or before the server's clock. */
export function notAfterServerNow(field: string): Document {
  return { $expr: { $lte: [`$${field}`, SERVER_NOW] } };
}

/** Pipeline `$set` values taken literally: no `$` in a value is read as a field path. */
export function literally(values: Document): Document {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, { $literal: value }]));
}

/**
 * Inserts `doc` unless a document with its `_id` exists, stamping `serverTimeFields` with the
 * server's clock. `marker` names a field every stored document has (a non-empty string), which
 * tells an existing document from the bare one an upsert starts with. True when inserted; a
 * unique index other than `_id` still answers E11000.
 */
export async function insertWithServerTime<T extends Document & { _id: unknown }>(
  collection: Collection<T>,
  doc: T,
  serverTimeFields: readonly string[],
  marker: keyof T & string,
): Promise<boolean> {
  const fresh = {
    $mergeObjects: [
      { $literal: doc },
      Object.fromEntries(serverTimeFields.map((field) => [field, SERVER_NOW])),
    ],
  };
  const result = await collection.updateOne(
    { _id: doc._id } as Filter<T>,
    [{ $replaceWith: { $cond: [{ $ifNull: [`$${marker}`, false] }, '$$ROOT', fresh] } }],
    { upsert: true },
  );
  return result.upsertedCount === 1;
}
