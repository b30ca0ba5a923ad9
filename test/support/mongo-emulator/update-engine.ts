import type { Document } from 'bson';
import { bsonEquals, bsonTypeName, deepClone, formatValue, isPlainObject } from './bson-values.js';
import { commandError, toMongoCommandError } from './errors.js';
import { createAggregator } from './query-matcher.js';
import { parseModifications } from './update-modifications.js';
import { applyModifications, type UpdateOptions } from './update-operators.js';

/*
 * mongod's update language, implemented here rather than with mingo's updater because mongod's
 * observable behaviour lives in the details mingo glosses over: which type errors are raised
 * (and with which code), path conflicts, _id immutability, no-op detection and the order in
 * which new fields are created.
 */

export type { UpdateOptions };

export type UpdateKind = 'replacement' | 'operators' | 'pipeline';

const PIPELINE_UPDATE_STAGES = new Set([
  '$addFields',
  '$set',
  '$project',
  '$unset',
  '$replaceRoot',
  '$replaceWith',
]);

export function classifyUpdate(update: unknown): UpdateKind {
  if (Array.isArray(update)) return 'pipeline';
  if (!isPlainObject(update)) {
    throw commandError(
      'TypeMismatch',
      `Update argument must be either an object or an array, got ${bsonTypeName(update)}`,
    );
  }
  const first = Object.keys(update)[0];
  return first?.startsWith('$') ? 'operators' : 'replacement';
}

/** Returns the updated copy of `doc`; `doc` itself is never modified. */
export function applyUpdate(doc: Document, update: Document | Document[], options: UpdateOptions): Document {
  switch (classifyUpdate(update)) {
    case 'replacement':
      return applyReplacement(doc, update as Document);
    case 'pipeline':
      return applyPipeline(doc, update as Document[], options.now);
    default:
      return applyOperators(doc, update as Document, options);
  }
}

export function assertValidReplacement(replacement: Document): void {
  for (const key of Object.keys(replacement)) {
    if (key.startsWith('$')) {
      throw commandError(
        'DollarPrefixedFieldName',
        `The dollar ($) prefixed field '${key}' in '${key}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
      );
    }
  }
}

function applyReplacement(doc: Document, replacement: Document): Document {
  assertValidReplacement(replacement);
  const result = withIdFirst(deepClone(replacement), doc._id);
  assertIdUnchanged(doc, result, 'replacement');
  return result;
}

/** `now` is the command's server time, what $$NOW is in the pipeline. */
function applyPipeline(doc: Document, pipeline: Document[], now: Date): Document {
  for (const stage of pipeline) {
    const name = isPlainObject(stage) ? Object.keys(stage)[0] : undefined;
    if (name === undefined || !PIPELINE_UPDATE_STAGES.has(name)) {
      throw commandError('InvalidOptions', `${name ?? 'stage'} is not allowed to be used within an update`);
    }
  }
  let output: Document[];
  try {
    output = createAggregator(pipeline, now).run([deepClone(doc)]);
  } catch (error) {
    throw toMongoCommandError(error);
  }
  const result = withIdFirst(output[0] ?? {}, doc._id);
  assertIdUnchanged(doc, result, 'replacement');
  return result;
}

/** mongod stores `_id` as the first field; a document without one keeps the old `_id`. */
export function withIdFirst(doc: Document, fallbackId: unknown): Document {
  const id = doc._id !== undefined ? doc._id : fallbackId;
  if (id === undefined) return doc;
  const { _id: _ignored, ...rest } = doc;
  return { _id: id, ...rest };
}

function assertIdUnchanged(before: Document, after: Document, style: 'replacement' | 'operators'): void {
  if (before._id === undefined || bsonEquals(before._id, after._id)) return;
  if (style === 'replacement') {
    throw commandError(
      'ImmutableField',
      `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${formatValue(after._id)}`,
    );
  }
  throw commandError(
    'ImmutableField',
    "Performing an update on the path '_id' would modify the immutable field '_id'",
  );
}

function applyOperators(original: Document, update: Document, options: UpdateOptions): Document {
  const modifications = parseModifications(update);
  const doc = deepClone(original);
  applyModifications(doc, modifications, options);
  assertIdUnchanged(original, doc, 'operators');
  return withIdFirst(doc, original._id);
}
