import type { Document } from 'bson';
import {
  canonicalKey,
  deepClone,
  formatDocument,
  formatValue,
  isNumeric,
  isPlainObject,
  toNumber,
} from '../bson-values.js';
import type { Collection } from '../collection.js';
import { parseBatchSize, type ResultStream } from '../cursor-registry.js';
import { commandError, MongoCommandError, notImplemented } from '../errors.js';
import {
  compareIndexSpecs,
  ID_INDEX_NAME,
  ID_INDEX_SPEC,
  normalizeIndexSpec,
  validateTtlValue,
} from '../index-spec.js';
import { compileFilter } from '../query-matcher.js';
import {
  type CommandContext,
  type CommandHandler,
  optionalDocument,
  requireArray,
  targetCollection,
} from './context.js';

function arrayStream(docs: Document[]): ResultStream {
  let position = 0;
  return {
    get finished() {
      return position >= docs.length;
    },
    next() {
      if (position >= docs.length) return { done: true, value: undefined };
      return { done: false, value: docs[position++] as Document };
    },
  };
}

function cursorBatchSize(command: Document, commandName: string): number | undefined {
  const cursor = optionalDocument(command, 'cursor', commandName);
  return parseBatchSize(cursor?.batchSize, `${commandName}.cursor.batchSize`);
}

function invalidateCursors(context: CommandContext, matches: (ns: string) => boolean, reason: string): void {
  context.cursors.invalidate(matches, reason);
}

const UNSUPPORTED_COLLECTION_OPTIONS = [
  'capped',
  'validator',
  'timeseries',
  'viewOn',
  'clusteredIndex',
  'changeStreamPreAndPostImages',
  'encryptedFields',
];

export const create: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'create', context);
  for (const option of UNSUPPORTED_COLLECTION_OPTIONS) {
    if (command[option] !== undefined && command[option] !== false) {
      throw notImplemented(`the '${option}' collection option`);
    }
  }
  const options: Document = {};
  for (const [key, value] of Object.entries(command)) {
    if (key !== 'create' && !key.startsWith('$') && key !== 'lsid' && key !== 'writeConcern') {
      options[key] = value;
    }
  }
  context.store.createCollection(context.db, name, options);
  return { ok: 1 };
};

export const drop: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'drop', context);
  const ns = `${context.db}.${name}`;
  const dropped = context.store.dropCollection(context.db, name);
  // Since MongoDB 7.0 dropping a missing collection succeeds.
  if (!dropped) return { ok: 1 };
  invalidateCursors(
    context,
    (cursorNs) => cursorNs === ns,
    `collection dropped. UUID ${dropped.uuid.toHexString(true)}`,
  );
  return { nIndexesWas: dropped.indexSpecs().length, ns, ok: 1 };
};

export const dropDatabase: CommandHandler = (_command, context) => {
  context.store.dropDatabase(context.db);
  invalidateCursors(context, (ns) => ns.startsWith(`${context.db}.`), 'database dropped');
  return { dropped: context.db, ok: 1 };
};

export const listCollections: CommandHandler = (command, context) => {
  const filter = optionalDocument(command, 'filter', 'listCollections');
  const matches = compileFilter(filter, { field: 'listCollections.filter', now: context.now });
  const nameOnly = command.nameOnly === true;
  const infos = context.store
    .collections(context.db)
    .map(
      (collection): Document =>
        nameOnly
          ? { name: collection.name, type: 'collection' }
          : {
              name: collection.name,
              type: 'collection',
              options: deepClone(collection.options),
              info: { readOnly: false, uuid: collection.uuid },
              idIndex: ID_INDEX_SPEC,
            },
    )
    .filter(matches);
  return context.cursors.open(`${context.db}.$cmd.listCollections`, arrayStream(infos), {
    batchSize: cursorBatchSize(command, 'listCollections'),
  });
};

export const listDatabases: CommandHandler = (command, context) => {
  if (context.db !== 'admin') {
    throw new MongoCommandError(
      13,
      'Unauthorized',
      'listDatabases may only be run against the admin database.',
    );
  }
  const matches = compileFilter(optionalDocument(command, 'filter', 'listDatabases'), {
    field: 'listDatabases.filter',
    now: context.now,
  });
  // Sizes are nominal: nothing is on disk, but tools expect the fields.
  const databases = context.store
    .databaseNames()
    .map((name): Document => {
      const sizeOnDisk = context.store.collections(name).length * 8192;
      return command.nameOnly === true ? { name } : { name, sizeOnDisk, empty: false };
    })
    .filter(matches);
  if (command.nameOnly === true) return { databases, ok: 1 };
  const totalSize = databases.reduce((sum, db) => sum + (db.sizeOnDisk as number), 0);
  return { databases, totalSize, totalSizeMb: Math.floor(totalSize / (1024 * 1024)), ok: 1 };
};

/** Decides what createIndexes does with one requested spec, given the indexes already there. */
function resolveIndexRequest(spec: Document, existing: Document[]): 'create' | 'exists' {
  const sameName = existing.find((index) => index.name === spec.name);
  if (sameName) {
    const comparison = compareIndexSpecs(spec, sameName);
    if (comparison === 'identical') return 'exists';
    if (comparison === 'different') {
      throw commandError(
        'IndexKeySpecsConflict',
        `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${formatDocument(spec)}, existing index: ${formatDocument(sameName)}`,
      );
    }
    throw commandError(
      'IndexOptionsConflict',
      `An equivalent index already exists with the same name but different options. Requested index: ${formatDocument(spec)}, existing index: ${formatDocument(sameName)}`,
    );
  }
  const sameKey = existing.find((index) => compareIndexSpecs(spec, index) !== 'different');
  if (sameKey) {
    if (compareIndexSpecs(spec, sameKey) === 'equivalent') {
      throw commandError(
        'IndexOptionsConflict',
        `An equivalent index already exists with a different name and options. Requested index: ${formatDocument(spec)}, existing index: ${formatDocument(sameKey)}`,
      );
    }
    throw commandError('IndexOptionsConflict', `Index already exists with a different name: ${sameKey.name}`);
  }
  return 'create';
}

/** commitQuorum: refused by a standalone; on a one-member set, only what one member satisfies. */
function checkCommitQuorum(value: unknown, context: CommandContext): void {
  if (value === undefined) return;
  if (!context.topology.isReplicaSet)
    throw commandError('BadValue', "Standalones can't specify commitQuorum");
  if (typeof value === 'string') {
    if (value === 'majority' || value === 'votingMembers') return;
    throw commandError(
      'UnsatisfiableCommitQuorum',
      `Commit quorum cannot be satisfied: no replica set member has the tag '${value}'`,
    );
  }
  if (isNumeric(value) && Number.isInteger(toNumber(value)) && toNumber(value) >= 0) {
    if (toNumber(value) <= 1) return;
    throw commandError(
      'UnsatisfiableCommitQuorum',
      `Commit quorum cannot be satisfied: ${toNumber(value)} data-bearing voting members required, the replica set has 1`,
    );
  }
  throw commandError(
    'FailedToParse',
    `commitQuorum has to be a number or a string, not ${formatValue(value)}`,
  );
}

export const createIndexes: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'createIndexes', context);
  checkCommitQuorum(command.commitQuorum, context);
  const requested = requireArray(command, 'indexes', 'createIndexes').map(normalizeIndexSpec);
  if (requested.length === 0) throw commandError('BadValue', 'Must specify at least one index to create');

  const existingCollection = context.store.collection(context.db, name);
  const existing = existingCollection?.indexSpecs() ?? [ID_INDEX_SPEC];
  const toCreate: Document[] = [];
  for (const spec of requested) {
    if (resolveIndexRequest(spec, [...existing, ...toCreate]) === 'create') toCreate.push(spec);
  }

  const { collection, created } = context.store.ensureCollection(context.db, name);
  const numIndexesBefore = collection.indexSpecs().length;
  const built: string[] = [];
  try {
    for (const spec of toCreate) {
      collection.addIndex(spec);
      built.push(spec.name as string);
    }
  } catch (error) {
    // createIndexes is all-or-nothing.
    for (const indexName of built) collection.dropIndex(indexName);
    throw error;
  }
  const reply: Document = {
    numIndexesBefore,
    numIndexesAfter: collection.indexSpecs().length,
    createdCollectionAutomatically: created,
  };
  if (toCreate.length === 0) reply.note = 'all indexes already exist';
  reply.ok = 1;
  return reply;
};

export const listIndexes: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'listIndexes', context);
  const ns = `${context.db}.${name}`;
  const collection = context.store.collection(context.db, name);
  if (!collection) throw commandError('NamespaceNotFound', `ns does not exist: ${ns}`);
  return context.cursors.open(ns, arrayStream(collection.indexSpecs().map(deepClone)), {
    batchSize: cursorBatchSize(command, 'listIndexes'),
  });
};

function indexNamesToDrop(collection: Collection, target: unknown): string[] {
  const specs = collection.indexSpecs();
  if (target === '*') {
    return specs.filter((spec) => spec.name !== ID_INDEX_NAME).map((spec) => spec.name as string);
  }
  const names = typeof target === 'string' ? [target] : Array.isArray(target) ? target : undefined;
  if (names) {
    for (const indexName of names) {
      if (indexName === ID_INDEX_NAME) throw commandError('InvalidOptions', 'cannot drop _id index');
      if (!specs.some((spec) => spec.name === indexName)) {
        throw commandError('IndexNotFound', `index not found with name [${String(indexName)}]`);
      }
    }
    return names as string[];
  }
  if (isPlainObject(target)) {
    const found = specs.filter((spec) => canonicalKey(spec.key) === canonicalKey(target));
    if (found.length === 0) {
      throw commandError('IndexNotFound', `can't find index with key: ${formatDocument(target)}`);
    }
    if (found.length > 1) {
      throw new MongoCommandError(
        281,
        'AmbiguousIndexKeyPattern',
        `${found.length} indexes found for key: ${formatDocument(target)}, identify by name instead. Conflicting indexes: ${found.map(formatDocument).join(', ')}`,
      );
    }
    const [spec] = found as [Document];
    if (spec.name === ID_INDEX_NAME) throw commandError('InvalidOptions', 'cannot drop _id index');
    return [spec.name as string];
  }
  throw commandError(
    'TypeMismatch',
    "BSON field 'dropIndexes.index' is the wrong type, expected types '[string, object, array]'",
  );
}

export const dropIndexes: CommandHandler = (command, context) => {
  const commandName = Object.keys(command)[0] as string;
  const name = targetCollection(command, commandName, context);
  const collection = context.store.collection(context.db, name);
  if (!collection) throw commandError('NamespaceNotFound', `ns not found ${context.db}.${name}`);
  const nIndexesWas = collection.indexSpecs().length;
  for (const indexName of indexNamesToDrop(collection, command.index)) collection.dropIndex(indexName);
  return { nIndexesWas, ok: 1 };
};

/** Fields of collMod's `index` document that the emulator models. */
const COLLMOD_INDEX_FIELDS = new Set(['name', 'keyPattern', 'expireAfterSeconds', 'hidden']);
/** Fields collMod takes besides the options it changes. */
const COLLMOD_GENERIC_FIELDS = new Set([
  'collMod',
  'writeConcern',
  'comment',
  'lsid',
  'txnNumber',
  'maxTimeMS',
]);

/**
 * collMod with `index: { name | keyPattern, expireAfterSeconds?, hidden? }`: changes a TTL
 * (or makes a single-field index a TTL index, as mongod 5.1+ allows) or hides an index, in
 * place. Unique conversions (prepareUnique/unique/forceNonUnique) and collection options
 * (validator, ...) are not emulated and fail with NotImplemented.
 */
export const collMod: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'collMod', context);
  for (const field of Object.keys(command)) {
    if (COLLMOD_GENERIC_FIELDS.has(field) || field.startsWith('$') || field === 'index') continue;
    throw notImplemented(`collMod's '${field}' option`);
  }
  const ns = `${context.db}.${name}`;
  const collection = context.store.collection(context.db, name);
  if (!collection) throw commandError('NamespaceNotFound', `ns does not exist: ${ns}`);
  const request = command.index;
  if (request === undefined) return { ok: 1 };
  if (!isPlainObject(request)) {
    throw commandError(
      'TypeMismatch',
      `BSON field 'collMod.index' is the wrong type '${typeof request}', expected type 'object'`,
    );
  }
  for (const field of Object.keys(request)) {
    if (['unique', 'prepareUnique', 'forceNonUnique'].includes(field)) {
      throw notImplemented(`collMod's index '${field}' conversion`);
    }
    if (!COLLMOD_INDEX_FIELDS.has(field)) {
      throw commandError('IDLUnknownField', `BSON field 'collMod.index.${field}' is an unknown field.`);
    }
  }
  if (request.name !== undefined && request.keyPattern !== undefined) {
    throw commandError('InvalidOptions', 'Cannot specify both key pattern and name.');
  }
  if (request.name === undefined && request.keyPattern === undefined) {
    throw commandError('InvalidOptions', 'Must specify either index name or key pattern.');
  }
  if (request.expireAfterSeconds === undefined && request.hidden === undefined) {
    throw commandError(
      'InvalidOptions',
      'no expireAfterSeconds, hidden, prepareUnique, unique, or forceNonUnique field',
    );
  }
  const specs = collection.indexSpecs();
  const spec =
    request.name !== undefined
      ? specs.find((candidate) => candidate.name === request.name)
      : specs.find((candidate) => canonicalKey(candidate.key) === canonicalKey(request.keyPattern));
  if (!spec) {
    const what =
      request.name !== undefined ? String(request.name) : formatDocument(request.keyPattern as Document);
    throw commandError('IndexNotFound', `cannot find index ${what} for ns ${ns}`);
  }
  if (spec.name === ID_INDEX_NAME) {
    if (request.hidden !== undefined) throw commandError('BadValue', "can't hide _id index");
    throw commandError('InvalidOptions', "the '_id' index cannot be modified: it has no TTL option");
  }
  const index = collection.findIndex(spec.name as string);
  if (!index) throw commandError('InternalError', `index ${String(spec.name)} vanished`);

  const reply: Document = {};
  const changes: { expireAfterSeconds?: number; hidden?: boolean } = {};
  if (request.expireAfterSeconds !== undefined) {
    if (Object.keys(spec.key as Document).length !== 1) {
      throw commandError(
        'InvalidOptions',
        'TTL indexes are single-field indexes, compound indexes do not support TTL.',
      );
    }
    const seconds = validateTtlValue(request.expireAfterSeconds, spec, 'InvalidOptions');
    if (index.expireAfterSeconds !== seconds) {
      if (index.expireAfterSeconds !== undefined) reply.expireAfterSeconds_old = index.expireAfterSeconds;
      reply.expireAfterSeconds_new = seconds;
      changes.expireAfterSeconds = seconds;
    }
  }
  if (request.hidden !== undefined) {
    if (typeof request.hidden !== 'boolean') {
      throw commandError(
        'TypeMismatch',
        `BSON field 'collMod.index.hidden' is the wrong type '${typeof request.hidden}', expected type 'bool'`,
      );
    }
    const was = spec.hidden === true;
    if (was !== request.hidden) {
      reply.hidden_old = was;
      reply.hidden_new = request.hidden;
      changes.hidden = request.hidden;
    }
  }
  index.modify(changes);
  reply.ok = 1;
  return reply;
};
