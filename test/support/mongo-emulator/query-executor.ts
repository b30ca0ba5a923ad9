import type { Document } from 'bson';
import type { Cursor } from 'mingo/cursor';
import type { Query } from 'mingo/query';
import { canonicalKey, deepClone } from './bson-values.js';
import type { Collection } from './collection.js';
import type { ResultStream } from './cursor-registry.js';
import { commandError, toMongoCommandError } from './errors.js';
import { prepareProjection } from './projection.js';
import { createQuery } from './query-matcher.js';
import { planQuery } from './query-planner.js';

export interface QueryOptions {
  filter: Document;
  sort?: Document | undefined;
  projection?: Document | undefined;
  skip?: number | undefined;
  /** 0 or undefined: no limit. */
  limit?: number | undefined;
  /** The command's server time, what $$NOW is in $expr filters and projection expressions. */
  now: Date;
}

const EMPTY_STREAM: ResultStream = { next: () => ({ done: true, value: undefined }), finished: true };

function hasKeys(doc: Document | undefined): doc is Document {
  return doc !== undefined && Object.keys(doc).length > 0;
}

/** `{$natural: ±1}` asks for (reverse) storage order rather than a field sort. */
function naturalDirection(sort: Document | undefined): 1 | -1 | undefined {
  if (!sort || !('$natural' in sort)) return undefined;
  if (Object.keys(sort).length > 1) {
    throw commandError('BadValue', '$natural sort cannot be combined with other sort fields');
  }
  return Number(sort.$natural) < 0 ? -1 : 1;
}

/**
 * Turns a matched stored document into what the client receives. mingo's projections edit
 * nested objects in place (an exclusion of 'a.b' deletes b from the stored `a`), so they only
 * ever see a copy. `query` lets positional projections ('items.$') find their condition.
 */
function projector(query: Query, projection: Document | undefined, now: Date): (doc: Document) => Document {
  const prepared = prepareProjection(projection);
  if (!hasKeys(prepared.base)) return prepared.finish;
  let matchAll: Query | undefined;
  const unfiltered = (): Query => {
    matchAll ??= createQuery({}, now);
    return matchAll;
  };
  return (doc) => {
    const copy = deepClone(doc);
    // A document the query no longer matches (findAndModify's new version) is projected plainly.
    const projected =
      query.find<Document>([copy], prepared.base).next() ??
      unfiltered().find<Document>([copy], prepared.base).next();
    return prepared.finish(projected ?? {});
  };
}

function mingoCursor(
  collection: Collection,
  options: QueryOptions,
): { cursor: Cursor<Document>; query: Query } {
  const plan = planQuery(collection, options.filter);
  const query = createQuery(plan.residual, options.now);
  const natural = naturalDirection(options.sort);
  let source: Iterable<Document> = plan.candidates;
  if (natural === -1) source = [...source].reverse();
  const cursor = query.find<Document>(source, {});
  if (natural === undefined && hasKeys(options.sort)) cursor.sort(options.sort as Record<string, 1 | -1>);
  if (options.skip) cursor.skip(options.skip);
  return { cursor, query };
}

/**
 * Matching documents, lazily: unsorted queries compute one document per pull; sorted ones
 * sort once on the first pull. The limit is applied here rather than by mingo, whose limit
 * keeps draining its source after the last document.
 */
export function queryStream(collection: Collection | undefined, options: QueryOptions): ResultStream {
  if (!collection) return EMPTY_STREAM;
  const { cursor, query } = mingoCursor(collection, options);
  const project = projector(query, options.projection, options.now);
  const limit = options.limit && options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
  let returned = 0;
  let done = false;
  return {
    get finished() {
      return done || returned >= limit;
    },
    next() {
      if (done || returned >= limit) return { done: true, value: undefined };
      try {
        const value = cursor.next();
        if (value === undefined) {
          done = true;
          return { done: true, value: undefined };
        }
        returned += 1;
        return { done: false, value: project(value) };
      } catch (error) {
        throw toMongoCommandError(error);
      }
    },
  };
}

/**
 * Stored documents matching a write's filter: the first by `sort` when `justOne`. `now` is the
 * command's server time, what $$NOW is in an $expr.
 */
export function matchingDocuments(
  collection: Collection | undefined,
  filter: Document,
  { justOne = false, sort, now }: { justOne?: boolean; sort?: Document | undefined; now: Date },
): Document[] {
  if (!collection) return [];
  const stream = queryStream(collection, { filter, sort, limit: justOne ? 1 : 0, now });
  const found: Document[] = [];
  for (let next = stream.next(); !next.done; next = stream.next()) found.push(next.value);
  return found;
}

export function idKeyOf(doc: Document): string {
  return canonicalKey(doc._id);
}

/** Applies findAndModify's `fields` projection to the document it returns. */
export function projectDocument(
  doc: Document,
  projection: Document | undefined,
  filter: Document,
  now: Date,
): Document {
  if (!hasKeys(projection)) return doc;
  try {
    return projector(createQuery(filter, now), projection, now)(doc);
  } catch (error) {
    throw toMongoCommandError(error);
  }
}
