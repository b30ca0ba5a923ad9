import { type Document, ObjectId } from 'bson';
import { bsonTypeTag, deepClone, isPlainObject } from './bson-values.js';
import { commandError } from './errors.js';
import { isArrayIndex, pathsOverlap } from './field-paths.js';
import { applyUpdate, assertValidReplacement, classifyUpdate, withIdFirst } from './update-engine.js';

/**
 * The document an upsert inserts when nothing matched, following mongod's rules: operator and
 * pipeline updates start from the query's equality conditions (implicit equality, $eq, and
 * conditions inside a top-level $and); a replacement keeps only the query's `_id`. `_id` is
 * generated last if neither supplied one.
 */
export function buildUpsertDocument(query: Document, update: Document | Document[], now: Date): Document {
  const equalities = extractEqualities(query);
  let doc: Document;
  if (classifyUpdate(update) === 'replacement') {
    assertValidReplacement(update as Document);
    const seededId = equalities.find(([path]) => path === '_id')?.[1];
    doc = withIdFirst(deepClone(update as Document), seededId);
  } else {
    const seed: Document = {};
    for (const [path, value] of equalities) setSeedPath(seed, path, deepClone(value));
    doc = applyUpdate(withIdFirst(seed, undefined), update, { now, isInsert: true });
  }
  return withIdFirst(doc, doc._id === undefined ? new ObjectId() : doc._id);
}

function isEqualityValue(value: unknown): boolean {
  if (value instanceof RegExp || bsonTypeTag(value) === 'BSONRegExp') return false;
  if (isPlainObject(value)) return !Object.keys(value).some((k) => k.startsWith('$'));
  return true;
}

function extractEqualities(query: Document): [string, unknown][] {
  const found: [string, unknown][] = [];
  const visit = (filter: Document): void => {
    for (const [key, condition] of Object.entries(filter)) {
      if (key === '$and' && Array.isArray(condition)) {
        for (const clause of condition) if (isPlainObject(clause)) visit(clause);
        continue;
      }
      if (key.startsWith('$')) continue;
      if (isEqualityValue(condition)) {
        found.push([key, condition]);
      } else if (isPlainObject(condition) && '$eq' in condition && isEqualityValue(condition.$eq)) {
        found.push([key, condition.$eq]);
      }
    }
  };
  visit(query);

  for (let i = 0; i < found.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = (found[j] as [string, unknown])[0];
      const b = (found[i] as [string, unknown])[0];
      if (a === b) {
        throw commandError(
          'NotSingleValueField',
          `cannot infer query fields to set, path '${a}' is matched twice`,
        );
      }
      if (pathsOverlap(a, b)) {
        throw commandError(
          'NotSingleValueField',
          `cannot infer query fields to set, both paths '${a}' and '${b}' are matched`,
        );
      }
    }
  }
  return found;
}

function setSeedPath(doc: Document, path: string, value: unknown): void {
  const parts = path.split('.');
  let container: Document = doc;
  for (const part of parts.slice(0, -1)) {
    if (isArrayIndex(part) && Array.isArray(container)) {
      // A positional equality such as {'tags.0': 'x'} cannot seed a document.
      return;
    }
    const next = container[part];
    if (!isPlainObject(next)) container[part] = {};
    container = container[part] as Document;
  }
  container[parts[parts.length - 1] as string] = value;
}
