import type { Document } from 'bson';
import { bsonTypeName, canonicalKey, isPlainObject } from '../bson-values.js';
import { commandError, notImplemented } from '../errors.js';
import { idKeyOf, matchingDocuments, projectDocument } from '../query-executor.js';
import { applyUpdate } from '../update-engine.js';
import { buildUpsertDocument } from '../upsert.js';
import { type CommandHandler, optionalDocument, targetCollection } from './context.js';
import { assertNoCollation } from './write-commands.js';

function flag(command: Document, field: string): boolean {
  const value = command[field];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') {
    throw commandError(
      'TypeMismatch',
      `BSON field 'findAndModify.${field}' is the wrong type '${bsonTypeName(value)}', expected type 'bool'`,
    );
  }
  return value;
}

/** findAndModify (and its lower-case alias): the driver's findOneAndUpdate/Replace/Delete. */
export const findAndModify: CommandHandler = (command, context) => {
  const commandName = Object.keys(command)[0] as string;
  const name = targetCollection(command, commandName, context);
  const query = optionalDocument(command, 'query', 'findAndModify') ?? {};
  const sort = optionalDocument(command, 'sort', 'findAndModify');
  const fields = optionalDocument(command, 'fields', 'findAndModify');
  const remove = flag(command, 'remove');
  const returnNew = flag(command, 'new');
  const upsert = flag(command, 'upsert');
  const update = command.update;
  assertNoCollation(command);

  if (remove && update !== undefined) {
    throw commandError('FailedToParse', 'Cannot specify both an update and remove=true');
  }
  if (!remove && update === undefined) {
    throw commandError('FailedToParse', 'Either an update or remove=true must be specified');
  }
  if (remove && upsert) {
    throw commandError('FailedToParse', 'Cannot specify both upsert=true and remove=true');
  }
  if (remove && returnNew) {
    throw commandError(
      'FailedToParse',
      "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
    );
  }
  if (update !== undefined && !Array.isArray(update) && !isPlainObject(update)) {
    throw commandError(
      'FailedToParse',
      `Update argument must be either an object or an array, got ${bsonTypeName(update)}`,
    );
  }
  if (Array.isArray(command.arrayFilters) && command.arrayFilters.length > 0) {
    throw notImplemented('arrayFilters');
  }

  const now = context.now;
  const collection = context.store.collection(context.db, name);
  const [match] = matchingDocuments(collection, query, { justOne: true, sort, now });

  if (remove) {
    if (match) collection?.delete(idKeyOf(match));
    return {
      lastErrorObject: { n: match ? 1 : 0 },
      value: match ? projectDocument(match, fields, query, now) : null,
      ok: 1,
    };
  }

  if (match) {
    const next = applyUpdate(match, update as Document | Document[], { now, isInsert: false });
    if (canonicalKey(next) !== canonicalKey(match)) collection?.replace(idKeyOf(match), next);
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: projectDocument(returnNew ? next : match, fields, query, now),
      ok: 1,
    };
  }
  if (!upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };

  const inserted = buildUpsertDocument(query, update as Document | Document[], now);
  context.store.ensureCollection(context.db, name).collection.insert(inserted);
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id },
    value: returnNew ? projectDocument(inserted, fields, query, now) : null,
    ok: 1,
  };
};
