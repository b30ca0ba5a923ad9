import type { Document } from 'bson';
import { Query } from 'mingo';
import { Aggregator } from 'mingo/aggregator';
import { Context } from 'mingo/core';
import { Lazy, type Iterator as LazyIterator } from 'mingo/lazy';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import type { Options } from 'mingo/types';
import { bsonTypeName, isNumeric, isPlainObject, toNumber } from './bson-values.js';
import { commandError, locationError, toMongoCommandError } from './errors.js';

export type DocumentPredicate = (doc: Document) => boolean;

/** $where/$function would run arbitrary JS, which mongod only does with scripting enabled. */
const MINGO_OPTIONS: Partial<Options> = { idKey: '_id', useStrictMode: true, scriptEnabled: false };

/**
 * mingo's own $limit filters its input rather than stopping, so it keeps pulling (and
 * evaluating earlier stages on) every remaining document. mongod stops, and pipelines such as
 * [$sort, $project, $limit] rely on that, so this one stops too.
 */
function $limit(collection: LazyIterator, limit: unknown): LazyIterator {
  if (!isNumeric(limit) || !Number.isInteger(toNumber(limit)) || toNumber(limit) <= 0) {
    throw locationError(15958, 'the limit must be positive');
  }
  let remaining = toNumber(limit);
  return Lazy(() => (remaining-- > 0 ? collection.next() : { done: true }));
}

const AGGREGATION_CONTEXT = Context.init({
  accumulator: accumulatorOperators,
  expression: expressionOperators,
  pipeline: { ...pipelineOperators, $limit: $limit as unknown as typeof pipelineOperators.$limit },
  projection: projectionOperators,
  query: queryOperators,
  window: windowOperators,
});

const matchAll: DocumentPredicate = () => true;

/** $comment is a no-op annotation in mongod that mingo does not know about. */
function withoutComment(filter: Document): Document {
  if (!('$comment' in filter)) return filter;
  const { $comment: _comment, ...criteria } = filter;
  return criteria;
}

/**
 * Compiles a query filter once so commands can test each candidate document cheaply.
 * `field` names the command field for mongod-style type errors.
 */
export function compileFilter(filter: unknown, field = 'filter'): DocumentPredicate {
  if (filter === undefined || filter === null) return matchAll;
  if (!isPlainObject(filter)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${field}' is the wrong type '${bsonTypeName(filter)}', expected type 'object'`,
    );
  }
  const criteria = withoutComment(filter);
  if (Object.keys(criteria).length === 0) return matchAll;
  const query = createQuery(criteria);
  return (doc) => query.test(doc);
}

export function createQuery(filter: Document): Query {
  try {
    return new Query(withoutComment(filter), MINGO_OPTIONS);
  } catch (error) {
    throw toMongoCommandError(error);
  }
}

export function createAggregator(pipeline: Document[], extra: Partial<Options> = {}): Aggregator {
  try {
    return new Aggregator(pipeline, { ...MINGO_OPTIONS, ...extra, context: AGGREGATION_CONTEXT });
  } catch (error) {
    throw toMongoCommandError(error);
  }
}
