import { type Document, ObjectId } from 'bson';
import { bsonTypeName, canonicalKey, isNumeric, isPlainObject, toNumber } from '../bson-values.js';
import { commandError, notImplemented, toMongoCommandError } from '../errors.js';
import { idKeyOf, matchingDocuments } from '../query-executor.js';
import { applyUpdate, classifyUpdate } from '../update-engine.js';
import { buildUpsertDocument } from '../upsert.js';
import { type CommandContext, type CommandHandler, requireArray, targetCollection } from './context.js';

const MAX_WRITE_BATCH_SIZE = 100_000;

function assertBatchSize(count: number): void {
  if (count < 1 || count > MAX_WRITE_BATCH_SIZE) {
    throw commandError(
      'InvalidLength',
      `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH_SIZE}. Got ${count} operations.`,
    );
  }
}

function isOrdered(command: Document): boolean {
  if (command.ordered === undefined) return true;
  if (typeof command.ordered !== 'boolean') {
    throw commandError(
      'TypeMismatch',
      `BSON field 'ordered' is the wrong type '${bsonTypeName(command.ordered)}', expected type 'bool'`,
    );
  }
  return command.ordered;
}

/**
 * Runs each statement of a write batch; a failing statement becomes a `writeErrors` entry and,
 * for ordered batches, stops the batch, exactly how mongod reports bulk writes.
 */
function runStatements(
  statements: unknown[],
  ordered: boolean,
  execute: (statement: unknown, index: number) => void,
): Document[] {
  const writeErrors: Document[] = [];
  for (let index = 0; index < statements.length; index++) {
    try {
      execute(statements[index], index);
    } catch (error) {
      writeErrors.push(toMongoCommandError(error).toWriteError(index));
      if (ordered) break;
    }
  }
  return writeErrors;
}

function withWriteErrors(reply: Document, writeErrors: Document[]): Document {
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}

function statementDocument(value: unknown, field: string): Document {
  if (!isPlainObject(value)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${field}' is the wrong type '${bsonTypeName(value)}', expected type 'object'`,
    );
  }
  return value;
}

export function assertNoCollation(statement: Document): void {
  const collation = statement.collation;
  if (collation !== undefined && !(isPlainObject(collation) && collation.locale === 'simple')) {
    throw notImplemented('collations');
  }
}

/** mongod stores `_id` first and generates an ObjectId when the client did not send one. */
function prepareForInsert(doc: Document): Document {
  const id = doc._id;
  if (Array.isArray(id)) throw commandError('InvalidIdField', "The '_id' value cannot be of type array");
  if (id instanceof RegExp) throw commandError('InvalidIdField', "The '_id' value cannot be of type regex");
  let first: string | undefined;
  for (const key in doc) {
    first = key;
    break;
  }
  if (id !== undefined && first === '_id') return doc;
  const { _id: _ignored, ...rest } = doc;
  return { _id: id === undefined ? new ObjectId() : id, ...rest };
}

export const insert: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'insert', context);
  const documents = requireArray(command, 'documents', 'insert');
  assertBatchSize(documents.length);
  const ordered = isOrdered(command);
  const { collection } = context.store.ensureCollection(context.db, name);
  let n = 0;
  // Documents were just decoded from the wire, so nothing else references them: storing them
  // directly is as good as storing a copy.
  const writeErrors = runStatements(documents, ordered, (doc, index) => {
    collection.insert(prepareForInsert(statementDocument(doc, `insert.documents.${index}`)));
    n += 1;
  });
  return withWriteErrors({ n }, writeErrors);
};

interface UpdateCounters {
  n: number;
  nModified: number;
}

function executeUpdateStatement(
  context: CommandContext,
  name: string,
  statement: Document,
  counters: UpdateCounters,
): unknown {
  const query = statementDocument(statement.q ?? {}, 'update.updates.q');
  const update = statement.u;
  if (!Array.isArray(update)) statementDocument(update, 'update.updates.u');
  const multi = statement.multi === true;
  const upsert = statement.upsert === true;
  assertNoCollation(statement);
  if (Array.isArray(statement.arrayFilters) && statement.arrayFilters.length > 0) {
    throw notImplemented('arrayFilters');
  }
  if (multi && classifyUpdate(update) === 'replacement') {
    throw commandError('FailedToParse', 'multi update is not supported for replacement-style update');
  }

  const collection = context.store.collection(context.db, name);
  const now = context.now;
  const sort = isPlainObject(statement.sort) ? statement.sort : undefined;
  const matches = matchingDocuments(collection, query, { justOne: !multi, sort, now });
  for (const doc of matches) {
    const next = applyUpdate(doc, update as Document | Document[], { now, isInsert: false });
    const changed = canonicalKey(next) !== canonicalKey(doc);
    if (changed) collection?.replace(idKeyOf(doc), next);
    counters.n += 1;
    if (changed) counters.nModified += 1;
  }
  if (matches.length > 0 || !upsert) return undefined;

  const inserted = buildUpsertDocument(query, update as Document | Document[], now);
  context.store.ensureCollection(context.db, name).collection.insert(inserted);
  counters.n += 1;
  return inserted._id;
}

export const update: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'update', context);
  const statements = requireArray(command, 'updates', 'update');
  assertBatchSize(statements.length);
  const ordered = isOrdered(command);
  const counters: UpdateCounters = { n: 0, nModified: 0 };
  const upserted: Document[] = [];
  const writeErrors = runStatements(statements, ordered, (statement, index) => {
    const upsertedId = executeUpdateStatement(
      context,
      name,
      statementDocument(statement, `update.updates.${index}`),
      counters,
    );
    if (upsertedId !== undefined) upserted.push({ index, _id: upsertedId });
  });
  const reply: Document = { n: counters.n, nModified: counters.nModified };
  if (upserted.length > 0) reply.upserted = upserted;
  return withWriteErrors(reply, writeErrors);
};

export const deleteCommand: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'delete', context);
  const statements = requireArray(command, 'deletes', 'delete');
  assertBatchSize(statements.length);
  const ordered = isOrdered(command);
  const collection = context.store.collection(context.db, name);
  let n = 0;
  const writeErrors = runStatements(statements, ordered, (raw, index) => {
    const statement = statementDocument(raw, `delete.deletes.${index}`);
    const query = statementDocument(statement.q ?? {}, 'delete.deletes.q');
    const limit = statement.limit ?? 0;
    if (!isNumeric(limit) || (toNumber(limit) !== 0 && toNumber(limit) !== 1)) {
      throw commandError(
        'FailedToParse',
        `The limit field in delete objects must be 0 or 1. Got ${String(limit)}`,
      );
    }
    assertNoCollation(statement);
    const justOne = toNumber(limit) === 1;
    for (const doc of matchingDocuments(collection, query, { justOne, now: context.now })) {
      if (collection?.delete(idKeyOf(doc))) n += 1;
    }
  });
  return withWriteErrors({ n }, writeErrors);
};
