import type { Document } from 'bson';
import { Collection } from './collection.js';
import { commandError } from './errors.js';

const INVALID_DB_CHARS = /[/\\. "$\0]/;

export function assertValidDatabaseName(db: string): void {
  if (db === '' || db.length >= 64 || INVALID_DB_CHARS.test(db)) {
    throw commandError('InvalidNamespace', `Invalid database name: '${db}'`);
  }
}

export function assertValidCollectionName(db: string, name: unknown): asserts name is string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name.includes('\0') ||
    name.startsWith('.') ||
    name.includes('$')
  ) {
    throw commandError('InvalidNamespace', `Invalid namespace specified '${db}.${String(name)}'`);
  }
}

/**
 * All databases, which exist only while they hold a collection, as in mongod.
 * The store outlives emulator stop()/start() so an outage keeps the data.
 */
export class Store {
  private readonly databases = new Map<string, Map<string, Collection>>();

  collection(db: string, name: string): Collection | undefined {
    return this.databases.get(db)?.get(name);
  }

  /** Implicit creation, as inserts, upserts and createIndexes do it. */
  ensureCollection(db: string, name: string): { collection: Collection; created: boolean } {
    const existing = this.collection(db, name);
    if (existing) return { collection: existing, created: false };
    return { collection: this.createCollection(db, name), created: true };
  }

  createCollection(db: string, name: string, options: Document = {}): Collection {
    assertValidDatabaseName(db);
    assertValidCollectionName(db, name);
    if (this.collection(db, name)) {
      throw commandError('NamespaceExists', `Collection ${db}.${name} already exists.`);
    }
    let collections = this.databases.get(db);
    if (!collections) {
      collections = new Map();
      this.databases.set(db, collections);
    }
    const collection = new Collection(db, name, options);
    collections.set(name, collection);
    return collection;
  }

  dropCollection(db: string, name: string): Collection | undefined {
    const collections = this.databases.get(db);
    const collection = collections?.get(name);
    if (!collections || !collection) return undefined;
    collections.delete(name);
    if (collections.size === 0) this.databases.delete(db);
    return collection;
  }

  dropDatabase(db: string): Collection[] {
    const collections = this.databases.get(db);
    this.databases.delete(db);
    return collections ? [...collections.values()] : [];
  }

  collections(db: string): Collection[] {
    return [...(this.databases.get(db)?.values() ?? [])];
  }

  databaseNames(): string[] {
    return [...this.databases.keys()];
  }

  *allCollections(): IterableIterator<Collection> {
    for (const collections of this.databases.values()) yield* collections.values();
  }
}
