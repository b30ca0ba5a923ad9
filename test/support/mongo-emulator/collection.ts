import { calculateObjectSize, type Document, UUID } from 'bson';
import { canonicalKey } from './bson-values.js';
import { commandError, locationError } from './errors.js';
import { ID_INDEX_NAME, ID_INDEX_SPEC } from './index-spec.js';
import { duplicateKeyError, type IndexEntries, SecondaryIndex } from './secondary-index.js';

const MAX_DOCUMENT_SIZE = 16 * 1024 * 1024;

/**
 * One collection's documents and indexes.
 *
 * Stored documents are never mutated: updates build a new object and swap it in. That keeps
 * open cursors and in-flight aggregations consistent and makes a failed update (say a
 * duplicate key) leave nothing half-applied.
 */
export class Collection {
  readonly uuid = new UUID();
  private readonly docs = new Map<string, Document>();
  private readonly indexes: SecondaryIndex[] = [];

  constructor(
    readonly dbName: string,
    readonly name: string,
    readonly options: Document = {},
  ) {}

  get ns(): string {
    return `${this.dbName}.${this.name}`;
  }

  get size(): number {
    return this.docs.size;
  }

  /** Live iterator in natural (insertion) order; sees later inserts, skips deleted documents. */
  documents(): IterableIterator<Document> {
    return this.docs.values();
  }

  get(idKey: string): Document | undefined {
    return this.docs.get(idKey);
  }

  secondaryIndexes(): readonly SecondaryIndex[] {
    return this.indexes;
  }

  indexSpecs(): Document[] {
    return [ID_INDEX_SPEC, ...this.indexes.map((index) => index.spec)];
  }

  findIndex(name: string): SecondaryIndex | undefined {
    return this.indexes.find((index) => index.name === name);
  }

  /** Inserts a document that already has its `_id`; throws E11000 without side effects. */
  insert(doc: Document): void {
    const idKey = canonicalKey(doc._id);
    if (this.docs.has(idKey)) {
      throw duplicateKeyError(this.ns, ID_INDEX_NAME, { _id: 1 }, { _id: doc._id });
    }
    const entries = this.entriesFor(doc);
    this.assertUnique(entries, idKey);
    this.docs.set(idKey, doc);
    this.indexes.forEach((index, i) => {
      index.add(entries[i], idKey);
    });
  }

  /** Swaps in a new version of a document (same `_id`), re-indexing it. */
  replace(idKey: string, next: Document): void {
    const previous = this.docs.get(idKey);
    if (previous === undefined) {
      throw commandError('InternalError', `document ${idKey} vanished during update`);
    }
    if (calculateObjectSize(next) > MAX_DOCUMENT_SIZE) {
      throw locationError(17419, `Resulting document after update is larger than ${MAX_DOCUMENT_SIZE}`);
    }
    const nextEntries = this.entriesFor(next);
    this.assertUnique(nextEntries, idKey);
    const previousEntries = this.entriesFor(previous);
    this.indexes.forEach((index, i) => {
      index.remove(previousEntries[i], idKey);
      index.add(nextEntries[i], idKey);
    });
    this.docs.set(idKey, next);
  }

  delete(idKey: string): boolean {
    const doc = this.docs.get(idKey);
    if (doc === undefined) return false;
    const entries = this.entriesFor(doc);
    this.indexes.forEach((index, i) => {
      index.remove(entries[i], idKey);
    });
    this.docs.delete(idKey);
    return true;
  }

  /** Builds a new index over the existing documents; fails like mongod's index build on dups. */
  addIndex(spec: Document): void {
    const index = new SecondaryIndex(spec);
    for (const [idKey, doc] of this.docs) {
      const entries = index.entriesFor(doc);
      const conflict = index.findConflict(entries, idKey, this.ns);
      if (conflict) {
        throw commandError(
          'DuplicateKey',
          `Index build failed: ${this.uuid.toHexString(true)}: Collection ${this.ns} ( ${this.uuid.toHexString(true)} ) :: caused by :: ${conflict.message}`,
          conflict.details,
        );
      }
      index.add(entries, idKey);
    }
    this.indexes.push(index);
  }

  dropIndex(name: string): boolean {
    const position = this.indexes.findIndex((index) => index.name === name);
    if (position < 0) return false;
    this.indexes.splice(position, 1);
    return true;
  }

  dropAllSecondaryIndexes(): void {
    this.indexes.length = 0;
  }

  private entriesFor(doc: Document): IndexEntries[] {
    return this.indexes.map((index) => index.entriesFor(doc));
  }

  private assertUnique(entries: IndexEntries[], idKey: string): void {
    this.indexes.forEach((index, i) => {
      const conflict = index.findConflict(entries[i], idKey, this.ns);
      if (conflict) throw conflict;
    });
  }
}
