import { canonicalKey } from './bson-values.js';
import type { Collection } from './collection.js';
import { expandPath } from './field-paths.js';
import type { SecondaryIndex } from './secondary-index.js';
import type { Store } from './store.js';

/** Earliest date among an index key's values: what mongod's TTL range scan effectively uses. */
function earliestDate(values: unknown[]): number | undefined {
  let earliest: number | undefined;
  for (const value of values) {
    if (value instanceof Date && (earliest === undefined || value.getTime() < earliest)) {
      earliest = value.getTime();
    }
  }
  return earliest;
}

function expiredIds(collection: Collection, index: SecondaryIndex, cutoff: number): string[] {
  const ids: string[] = [];
  const field = index.fields[0] as string;
  for (const doc of collection.documents()) {
    if (!index.covers(doc)) continue;
    const earliest = earliestDate(expandPath(doc, field).values);
    if (earliest !== undefined && earliest <= cutoff) ids.push(canonicalKey(doc._id));
  }
  return ids;
}

/**
 * One pass of mongod's TTL monitor: for every TTL index, delete documents whose indexed date
 * (the earliest, for arrays) is at or before `now - expireAfterSeconds`. Documents without a
 * date in the field never expire.
 */
export function deleteExpiredDocuments(store: Store, now: Date): number {
  let deleted = 0;
  for (const collection of [...store.allCollections()]) {
    for (const index of collection.secondaryIndexes()) {
      if (index.expireAfterSeconds === undefined) continue;
      const cutoff = now.getTime() - index.expireAfterSeconds * 1000;
      for (const id of expiredIds(collection, index, cutoff)) {
        if (collection.delete(id)) deleted += 1;
      }
    }
  }
  return deleted;
}
