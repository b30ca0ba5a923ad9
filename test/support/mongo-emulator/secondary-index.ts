import type { Document } from 'bson';
import { canonicalKey, formatDocument, isNumeric, toNumber } from './bson-values.js';
import { commandError, type MongoCommandError } from './errors.js';
import { EMPTY_ARRAY, expandPath, type PathValue } from './field-paths.js';
import { isTruthyOption } from './index-spec.js';
import { compileFilter, type DocumentPredicate } from './query-matcher.js';

/** One key a document contributes to an index (several for multikey documents). */
export interface IndexKey {
  /** Canonical form of the whole compound key: what uniqueness is decided on. */
  full: string;
  /** Canonical form of the first field's value: what equality lookups hash on. */
  prefix: string;
  /** The key's field values, for `keyValue` and the E11000 message. */
  values: unknown[];
}

/** `undefined` stands for "this document is not in the index" (partial/sparse). */
export type IndexEntries = IndexKey[] | undefined;

const KEY_SEPARATOR = '\u0000';

function keyPart(value: PathValue): string {
  // Missing fields index as null; an empty array indexes as `undefined`, a distinct key.
  if (value === EMPTY_ARRAY) return 'u';
  return canonicalKey(value === undefined ? null : value);
}

function keyValue(value: PathValue): unknown {
  return value === EMPTY_ARRAY || value === undefined ? null : value;
}

export function duplicateKeyError(
  ns: string,
  indexName: string,
  keyPattern: Document,
  keyValues: Document,
): MongoCommandError {
  return commandError(
    'DuplicateKey',
    `E11000 duplicate key error collection: ${ns} index: ${indexName} dup key: ${formatDocument(keyValues)}`,
    { keyPattern, keyValue: keyValues },
  );
}

/**
 * A non-_id index, kept as hash maps so unique checks and equality lookups are O(1) per key.
 * Ordering-based access (ranges, sorts) is left to mingo scans.
 */
export class SecondaryIndex {
  /** Replaced (never mutated) by collMod. */
  spec: Document;
  readonly name: string;
  readonly keyPattern: Document;
  readonly fields: string[];
  readonly unique: boolean;
  readonly sparse: boolean;
  readonly partial: boolean;
  expireAfterSeconds: number | undefined;
  private readonly partialFilter: DocumentPredicate | undefined;
  /** Unique indexes: full key → id key of the document holding it. */
  private readonly owners = new Map<string, string>();
  /** Non-unique or compound indexes: first-field key → id key(s), a bare string while single. */
  private readonly byPrefix = new Map<string, string | Set<string>>();
  /** Non-unique compound indexes: whole key → id key(s), for equality on every field. */
  private readonly byFull = new Map<string, string | Set<string>>();

  constructor(spec: Document) {
    this.spec = spec;
    this.name = spec.name as string;
    this.keyPattern = spec.key as Document;
    this.fields = Object.keys(this.keyPattern);
    this.unique = isTruthyOption(spec.unique);
    this.sparse = isTruthyOption(spec.sparse);
    this.partial = spec.partialFilterExpression !== undefined;
    this.partialFilter = this.partial ? compileFilter(spec.partialFilterExpression) : undefined;
    const ttl = spec.expireAfterSeconds;
    this.expireAfterSeconds = isNumeric(ttl) ? toNumber(ttl) : undefined;
  }

  /** True when equality lookups can be answered from `lookup` (single-field unique map). */
  private get lookupUsesOwners(): boolean {
    return this.unique && this.fields.length === 1;
  }

  /** Compound indexes answer equality on all their fields from a whole-key map (`owners` when unique). */
  private get tracksFullKeys(): boolean {
    return this.fields.length > 1 && !this.unique;
  }

  /** collMod's in-place changes: a new TTL or visibility; nothing that changes the entries. */
  modify(changes: { expireAfterSeconds?: number; hidden?: boolean }): void {
    const spec: Document = { ...this.spec };
    if (changes.expireAfterSeconds !== undefined) {
      spec.expireAfterSeconds = changes.expireAfterSeconds;
      this.expireAfterSeconds = changes.expireAfterSeconds;
    }
    if (changes.hidden === true) spec.hidden = true;
    if (changes.hidden === false) delete spec.hidden;
    // mongod lists the flags first: v, unique, hidden, then the rest.
    const { v, unique, hidden, ...rest } = spec;
    this.spec = {
      v,
      ...(unique === undefined ? {} : { unique }),
      ...(hidden === undefined ? {} : { hidden }),
      ...rest,
    };
  }

  /** Whether `doc` belongs in this index at all. */
  covers(doc: Document): boolean {
    if (this.partialFilter && !this.partialFilter(doc)) return false;
    return true;
  }

  entriesFor(doc: Document): IndexEntries {
    if (!this.covers(doc)) return undefined;
    const perField: PathValue[][] = [];
    const multikeyFields: string[] = [];
    let anyPresent = false;
    for (const field of this.fields) {
      const { values, multikey } = expandPath(doc, field);
      if (multikey) multikeyFields.push(field);
      if (values.some((v) => v !== undefined)) anyPresent = true;
      perField.push(values);
    }
    // A sparse index skips documents that have none of its fields.
    if (this.sparse && !anyPresent) return undefined;
    if (multikeyFields.length > 1) {
      throw commandError(
        'CannotIndexParallelArrays',
        `cannot index parallel arrays [${multikeyFields[1]}] [${multikeyFields[0]}]`,
      );
    }

    const keys = new Map<string, IndexKey>();
    const combine = (i: number, parts: string[], values: unknown[]): void => {
      if (i === perField.length) {
        const full = parts.join(KEY_SEPARATOR);
        if (!keys.has(full)) keys.set(full, { full, prefix: parts[0] as string, values });
        return;
      }
      for (const value of perField[i] as PathValue[]) {
        combine(i + 1, [...parts, keyPart(value)], [...values, keyValue(value)]);
      }
    };
    combine(0, [], []);
    return [...keys.values()];
  }

  /** The E11000 error `entries` would cause for document `idKey`, if any. */
  findConflict(entries: IndexEntries, idKey: string, ns: string): MongoCommandError | undefined {
    if (!this.unique || !entries) return undefined;
    for (const entry of entries) {
      const owner = this.owners.get(entry.full);
      if (owner !== undefined && owner !== idKey) {
        const keyValues: Document = {};
        this.fields.forEach((field, i) => {
          keyValues[field] = entry.values[i];
        });
        return duplicateKeyError(ns, this.name, this.keyPattern, keyValues);
      }
    }
    return undefined;
  }

  add(entries: IndexEntries, idKey: string): void {
    if (!entries) return;
    for (const entry of entries) {
      if (this.unique) this.owners.set(entry.full, idKey);
      if (!this.lookupUsesOwners) addToBucket(this.byPrefix, entry.prefix, idKey);
      if (this.tracksFullKeys) addToBucket(this.byFull, entry.full, idKey);
    }
  }

  remove(entries: IndexEntries, idKey: string): void {
    if (!entries) return;
    for (const entry of entries) {
      if (this.unique && this.owners.get(entry.full) === idKey) this.owners.delete(entry.full);
      if (!this.lookupUsesOwners) removeFromBucket(this.byPrefix, entry.prefix, idKey);
      if (this.tracksFullKeys) removeFromBucket(this.byFull, entry.full, idKey);
    }
  }

  /** Ids of documents whose first indexed field has the value with canonical key `prefix`. */
  lookup(prefix: string): string[] {
    if (this.lookupUsesOwners) {
      const owner = this.owners.get(prefix);
      return owner === undefined ? [] : [owner];
    }
    const bucket = this.byPrefix.get(prefix);
    if (bucket === undefined) return [];
    return typeof bucket === 'string' ? [bucket] : [...bucket];
  }

  lookupCount(prefix: string): number {
    if (this.lookupUsesOwners) return this.owners.has(prefix) ? 1 : 0;
    return bucketSize(this.byPrefix.get(prefix));
  }

  /** Ids of documents whose compound key is exactly `full`; only for indexes of several fields. */
  lookupFull(full: string): string[] {
    if (this.unique) {
      const owner = this.owners.get(full);
      return owner === undefined ? [] : [owner];
    }
    const bucket = this.byFull.get(full);
    if (bucket === undefined) return [];
    return typeof bucket === 'string' ? [bucket] : [...bucket];
  }

  lookupFullCount(full: string): number {
    if (this.unique) return this.owners.has(full) ? 1 : 0;
    return bucketSize(this.byFull.get(full));
  }
}

function bucketSize(bucket: string | Set<string> | undefined): number {
  if (bucket === undefined) return 0;
  return typeof bucket === 'string' ? 1 : bucket.size;
}

function addToBucket(map: Map<string, string | Set<string>>, key: string, idKey: string): void {
  const bucket = map.get(key);
  if (bucket === undefined) {
    map.set(key, idKey);
  } else if (typeof bucket === 'string') {
    if (bucket !== idKey) map.set(key, new Set([bucket, idKey]));
  } else {
    bucket.add(idKey);
  }
}

function removeFromBucket(map: Map<string, string | Set<string>>, key: string, idKey: string): void {
  const bucket = map.get(key);
  if (bucket === undefined) return;
  if (typeof bucket === 'string') {
    if (bucket === idKey) map.delete(key);
    return;
  }
  bucket.delete(idKey);
  if (bucket.size === 1) map.set(key, bucket.values().next().value as string);
}

export { KEY_SEPARATOR as INDEX_KEY_SEPARATOR, keyPart as indexKeyPart };
