import type { Document } from 'bson';
import {
  bsonEquals,
  bsonTypeName,
  formatDocument,
  isNumeric,
  isPlainObject,
  toNumber,
} from './bson-values.js';
import { commandError, notImplemented } from './errors.js';
import { assertSupportedPartialFilter } from './partial-filter.js';
import { compileFilter } from './query-matcher.js';

/*
 * Validation, naming and comparison of index specifications, mirroring mongod's
 * index_key_validate.cpp and IndexDescriptor::compareIndexOptions.
 */

export const ID_INDEX_NAME = '_id_';
export const ID_INDEX_SPEC: Document = Object.freeze({ v: 2, key: { _id: 1 }, name: ID_INDEX_NAME });

const BOOLEAN_OPTIONS = new Set(['unique', 'sparse', 'background', 'hidden', 'dropDups', 'prepareUnique']);
const ACCEPTED_OPTIONS = new Set([
  'key',
  'name',
  'v',
  'ns',
  'partialFilterExpression',
  'expireAfterSeconds',
  'collation',
  'storageEngine',
  ...BOOLEAN_OPTIONS,
]);
const SPECIAL_INDEX_TYPES = new Set(['text', '2d', '2dsphere', 'geoHaystack', 'hashed', 'columnstore']);
const MAX_EXPIRE_AFTER_SECONDS = 2147483647;

/** Options that do not distinguish one index from another when specs are compared. */
const NOT_COMPARED_OPTIONS = new Set([
  'key',
  'ns',
  'name',
  'v',
  'textIndexVersion',
  '2dsphereIndexVersion',
  'background',
  'dropDups',
  'collation',
  'partialFilterExpression',
  'unique',
  'sparse',
  'wildcardProjection',
]);

/** `{a: 1, b: -1}` → `a_1_b_-1`, the name drivers and the shell generate. */
export function defaultIndexName(key: Document): string {
  return Object.entries(key)
    .map(([field, direction]) => `${field}_${isNumeric(direction) ? toNumber(direction) : String(direction)}`)
    .join('_');
}

function invalidOption(field: string, spec: Document, forId = false): never {
  throw commandError(
    'InvalidIndexSpecificationOption',
    `The field '${field}' is not valid for an ${forId ? '_id ' : ''}index specification. Specification: ${formatDocument(spec)}`,
  );
}

export function isIdKeyPattern(key: Document): boolean {
  const fields = Object.keys(key);
  return fields.length === 1 && fields[0] === '_id' && isNumeric(key._id);
}

/**
 * Checks one entry of createIndexes' `indexes` array and returns it as mongod stores it:
 * `v: 2` first, then the fields as the client sent them, with a generated name if missing.
 */
export function normalizeIndexSpec(raw: unknown): Document {
  if (!isPlainObject(raw)) {
    throw commandError(
      'TypeMismatch',
      `The field 'indexes' must be an array of objects, but got ${bsonTypeName(raw)}`,
    );
  }
  for (const field of Object.keys(raw)) {
    if (!ACCEPTED_OPTIONS.has(field)) invalidOption(field, raw);
  }
  const key = raw.key;
  if (key === undefined) {
    throw commandError('FailedToParse', "The 'key' field is a required property of an index specification");
  }
  if (!isPlainObject(key)) {
    throw commandError('TypeMismatch', `The field 'key' must be an object, but got ${bsonTypeName(key)}`);
  }
  if (Object.keys(key).length === 0) throw commandError('CannotCreateIndex', 'Index keys cannot be empty.');
  for (const [field, direction] of Object.entries(key)) {
    if (typeof direction === 'string') {
      if (SPECIAL_INDEX_TYPES.has(direction) || field.endsWith('$**')) {
        throw notImplemented(`'${direction}' indexes`);
      }
      throw commandError('CannotCreateIndex', `Unknown index plugin '${direction}'`);
    }
    if (!isNumeric(direction) || toNumber(direction) === 0 || Number.isNaN(toNumber(direction))) {
      throw commandError(
        'CannotCreateIndex',
        `Values in the index key pattern can only be numbers > 0, numbers < 0, or strings. Index spec: ${formatDocument(raw)}`,
      );
    }
  }
  if (raw.name !== undefined && typeof raw.name !== 'string') {
    throw commandError(
      'TypeMismatch',
      `The field 'name' must be a string, but got ${bsonTypeName(raw.name)}`,
    );
  }
  for (const option of BOOLEAN_OPTIONS) {
    const value = raw[option];
    if (value !== undefined && typeof value !== 'boolean' && !isNumeric(value)) {
      throw commandError(
        'TypeMismatch',
        `The field '${option} has value ${option}: ${String(value)}, which is not convertible to bool`,
      );
    }
  }
  if (raw.collation !== undefined) {
    const locale = isPlainObject(raw.collation) ? raw.collation.locale : undefined;
    if (locale !== 'simple') throw notImplemented('index collations');
  }

  if (raw.name === '') throw commandError('CannotCreateIndex', 'index name cannot be empty');
  const spec = storedSpecLayout(raw, key);

  if (spec.partialFilterExpression !== undefined) {
    if (!isPlainObject(spec.partialFilterExpression)) {
      throw commandError(
        'TypeMismatch',
        `The field 'partialFilterExpression' must be an object, but got ${bsonTypeName(spec.partialFilterExpression)}`,
      );
    }
    compileFilter(spec.partialFilterExpression, { field: 'partialFilterExpression' });
    assertSupportedPartialFilter(spec.partialFilterExpression, raw);
    if (truthy(spec.sparse)) {
      throw commandError('CannotCreateIndex', 'cannot mix "partialFilterExpression" and "sparse" options');
    }
  }

  if (isIdKeyPattern(key)) {
    for (const option of ['unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'hidden']) {
      if (spec[option] !== undefined) invalidOption(option, spec, true);
    }
  }

  if (spec.expireAfterSeconds !== undefined) validateExpireAfterSeconds(spec);
  return spec;
}

/**
 * The field layout mongod's IndexCatalogImpl::fixIndexSpec stores and lists: v, the boolean
 * flags normalised to `true` (and dropped when false), key, name, then the remaining options in
 * the order the client sent them.
 */
function storedSpecLayout(raw: Document, key: Document): Document {
  const spec: Document = { v: 2 };
  for (const flag of ['unique', 'hidden', 'prepareUnique']) {
    if (truthy(raw[flag])) spec[flag] = true;
  }
  spec.key = key;
  spec.name = isIdKeyPattern(key) ? ID_INDEX_NAME : (raw.name ?? defaultIndexName(key));
  for (const [field, value] of Object.entries(raw)) {
    if (!['v', 'unique', 'hidden', 'prepareUnique', 'key', 'name', 'ns', 'dropDups', '_id'].includes(field)) {
      spec[field] = value;
    }
  }
  return spec;
}

/** Checks an expireAfterSeconds value (createIndexes or collMod); returns it as a number. */
export function validateTtlValue(
  value: unknown,
  spec: Document,
  code: 'CannotCreateIndex' | 'InvalidOptions' = 'CannotCreateIndex',
): number {
  const context = `. Index spec: ${formatDocument(spec)}`;
  if (!isNumeric(value) || Number.isNaN(toNumber(value))) {
    throw commandError(
      code,
      `TTL index 'expireAfterSeconds' option must be numeric, but received a type of '${bsonTypeName(value)}'${context}`,
    );
  }
  const seconds = toNumber(value);
  if (seconds < 0) {
    throw commandError(code, `TTL index 'expireAfterSeconds' option cannot be less than 0${context}`);
  }
  if (seconds > MAX_EXPIRE_AFTER_SECONDS) {
    throw commandError(
      code,
      `TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number${context}`,
    );
  }
  return Math.trunc(seconds);
}

function validateExpireAfterSeconds(spec: Document): void {
  const value = spec.expireAfterSeconds;
  const context = `. Index spec: ${formatDocument(spec)}`;
  if (!isNumeric(value) || Number.isNaN(toNumber(value))) {
    throw commandError(
      'CannotCreateIndex',
      `TTL index 'expireAfterSeconds' option must be numeric, but received a type of '${bsonTypeName(value)}'${context}`,
    );
  }
  const seconds = toNumber(value);
  if (seconds < 0) {
    throw commandError(
      'CannotCreateIndex',
      `TTL index 'expireAfterSeconds' option cannot be less than 0${context}`,
    );
  }
  if (seconds > MAX_EXPIRE_AFTER_SECONDS) {
    throw commandError(
      'CannotCreateIndex',
      `TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number${context}`,
    );
  }
  if (Object.keys(spec.key as Document).length !== 1) {
    throw commandError(
      'CannotCreateIndex',
      `TTL indexes are single-field indexes, compound indexes do not support TTL. Index spec: ${formatDocument(spec)}`,
    );
  }
}

function truthy(value: unknown): boolean {
  return value === true || (isNumeric(value) && toNumber(value) !== 0);
}

export type IndexComparison = 'different' | 'equivalent' | 'identical';

/**
 * Key pattern, unique, sparse, collation and partial filter identify an index: two specs
 * differing there are 'different' indexes. Specs agreeing there but not on other options (for
 * instance expireAfterSeconds) are 'equivalent' and cannot coexist.
 */
export function compareIndexSpecs(candidate: Document, existing: Document): IndexComparison {
  if (!bsonEquals(candidate.key, existing.key)) return 'different';
  if (truthy(candidate.unique) !== truthy(existing.unique)) return 'different';
  if (truthy(candidate.sparse) !== truthy(existing.sparse)) return 'different';
  if (!bsonEquals(candidate.collation ?? null, existing.collation ?? null)) return 'different';
  if (!bsonEquals(candidate.partialFilterExpression ?? null, existing.partialFilterExpression ?? null)) {
    return 'different';
  }
  const options = (spec: Document) =>
    Object.keys(spec)
      .filter((field) => !NOT_COMPARED_OPTIONS.has(field))
      .sort();
  const candidateOptions = options(candidate);
  const existingOptions = options(existing);
  const identical =
    candidateOptions.length === existingOptions.length &&
    candidateOptions.every(
      (field, i) => field === existingOptions[i] && bsonEquals(candidate[field], existing[field]),
    );
  return identical ? 'identical' : 'equivalent';
}

export function isTruthyOption(value: unknown): boolean {
  return truthy(value);
}
