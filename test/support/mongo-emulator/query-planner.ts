import type { Document } from 'bson';
import { bsonTypeTag, canonicalKey, compareBson, isPlainObject } from './bson-values.js';
import type { Collection } from './collection.js';
import { INDEX_KEY_SEPARATOR, indexKeyPart, type SecondaryIndex } from './secondary-index.js';

/*
 * Narrows a filter to candidate documents using `_id` or a secondary index's first field when
 * the filter pins that field to one or more values (implicit equality, $eq, $in, also inside a
 * top-level $and). Candidates are a superset of the matches: the caller still applies the full
 * remaining filter to each, so the planner only has to be right about never missing a match.
 */

function isHashable(value: unknown): boolean {
  if (Array.isArray(value) || value instanceof RegExp || bsonTypeTag(value) === 'BSONRegExp') return false;
  if (isPlainObject(value)) return !Object.keys(value).some((key) => key.startsWith('$'));
  return true;
}

/** Values a condition restricts its field to, or undefined when it is not a pure equality. */
function pinnedValues(condition: unknown): unknown[] | undefined {
  if (!isPlainObject(condition) || !Object.keys(condition).some((key) => key.startsWith('$'))) {
    // Array equality also matches arrays that contain the array, which keys cannot express.
    return isHashable(condition) ? [condition] : undefined;
  }
  if ('$eq' in condition && isHashable(condition.$eq)) return [condition.$eq];
  if ('$in' in condition && Array.isArray(condition.$in) && condition.$in.every(isHashable)) {
    return condition.$in;
  }
  return undefined;
}

function collectPinnedFields(filter: Document, into: Map<string, unknown[]>): void {
  for (const [field, condition] of Object.entries(filter)) {
    if (field === '$and' && Array.isArray(condition)) {
      for (const clause of condition) if (isPlainObject(clause)) collectPinnedFields(clause, into);
      continue;
    }
    if (field.startsWith('$')) continue;
    const values = pinnedValues(condition);
    const known = into.get(field);
    if (values && (!known || values.length < known.length)) into.set(field, values);
  }
}

/** Distinct values in index order, so results come back in the order an index scan gives. */
function orderedDistinct(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  const distinct: unknown[] = [];
  for (const value of values) {
    const key = canonicalKey(value);
    if (!seen.has(key)) {
      seen.add(key);
      distinct.push(value);
    }
  }
  return distinct.sort(compareBson);
}

export interface QueryPlan {
  /** Candidate documents, lazily fetched; a superset of the matches. */
  candidates: Iterable<Document>;
  /**
   * What of the filter the candidates do not already guarantee. An `_id` equality or $in is
   * answered exactly by the primary key (no arrays, no missing values), so it is dropped here;
   * re-testing a 500-value $in on every candidate would make id lookups O(k²).
   */
  residual: Document;
}

/** Whole compound keys worth looking up at most; beyond this the first field alone is used. */
const MAX_FULL_KEYS = 1_000;

/** Every combination of the fields' pinned values, as whole index keys; undefined when too many. */
function fullKeys(index: SecondaryIndex, pinned: Map<string, unknown[]>): string[] | undefined {
  let keys = [''];
  for (const [i, field] of index.fields.entries()) {
    const values = pinned.get(field);
    if (!values) return undefined;
    const parts = orderedDistinct(values).map(indexKeyPart);
    if (keys.length * parts.length > MAX_FULL_KEYS) return undefined;
    keys = keys.flatMap((key) =>
      parts.map((part) => (i === 0 ? part : `${key}${INDEX_KEY_SEPARATOR}${part}`)),
    );
  }
  return keys;
}

function secondaryIndexCandidates(
  collection: Collection,
  pinned: Map<string, unknown[]>,
): string[] | undefined {
  let best: { count: number; ids(): Iterable<string> } | undefined;
  for (const index of collection.secondaryIndexes()) {
    const values = pinned.get(index.fields[0] as string);
    // Partial indexes hold only some documents; sparse ones leave out those a null would match.
    if (!values || index.partial || (index.sparse && values.some((v) => v === null))) continue;
    // Equality on every field of a compound index narrows to the whole key.
    const whole = index.fields.length > 1 ? fullKeys(index, pinned) : undefined;
    if (whole) {
      const count = whole.reduce((sum, key) => sum + index.lookupFullCount(key), 0);
      if (!best || count < best.count)
        best = { count, ids: () => whole.flatMap((key) => index.lookupFull(key)) };
      continue;
    }
    const keys = orderedDistinct(values).map(indexKeyPart);
    const count = keys.reduce((sum, key) => sum + index.lookupCount(key), 0);
    if (!best || count < best.count) best = { count, ids: () => keys.flatMap((key) => index.lookup(key)) };
  }
  return best ? [...new Set(best.ids())] : undefined;
}

/**
 * Ids are computed once; documents are fetched as the consumer advances, so deletions made
 * meanwhile are skipped, as a server's cursor would.
 */
function* fetchAll(collection: Collection, ids: string[]): Generator<Document> {
  for (const id of ids) {
    const doc = collection.get(id);
    if (doc !== undefined) yield doc;
  }
}

function idCandidates(collection: Collection, values: unknown[]): Iterable<Document> {
  const ids = orderedDistinct(values)
    .map(canonicalKey)
    .filter((key) => collection.get(key) !== undefined);
  return fetchAll(collection, ids);
}

/** A top-level `_id` condition that is nothing but an equality or $in ({$in, $ne} is not). */
function exactIdValues(filter: Document): unknown[] | undefined {
  if (!('_id' in filter)) return undefined;
  const condition = filter._id;
  const isOperatorObject =
    isPlainObject(condition) && Object.keys(condition).some((key) => key.startsWith('$'));
  if (isOperatorObject && Object.keys(condition).length !== 1) return undefined;
  return pinnedValues(condition);
}

export function planQuery(collection: Collection, filter: Document | undefined): QueryPlan {
  const residual = filter ?? {};
  const exactIds = exactIdValues(residual);
  if (exactIds) {
    const { _id: _answered, ...rest } = residual;
    return { candidates: idCandidates(collection, exactIds), residual: rest };
  }
  const pinned = new Map<string, unknown[]>();
  collectPinnedFields(residual, pinned);
  const idValues = pinned.get('_id');
  if (idValues) return { candidates: idCandidates(collection, idValues), residual };
  const ids = pinned.size === 0 ? undefined : secondaryIndexCandidates(collection, pinned);
  return { candidates: ids ? fetchAll(collection, ids) : collection.documents(), residual };
}
