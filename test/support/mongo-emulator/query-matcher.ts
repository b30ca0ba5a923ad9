import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { Context, ProcessingMode } from 'mingo/core';
import { Lazy, type Iterator as LazyIterator } from 'mingo/lazy';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { Query } from 'mingo/query';
import type { Options } from 'mingo/types';
import { bsonTypeName, isNumeric, isPlainObject, toNumber } from './bson-values.js';
import { commandError, locationError, toMongoCommandError } from './errors.js';
import { computeOptions } from './mingo-clock.js';

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

/**
 * mingo's own $facet rebuilds its options from scratch to switch on input cloning, which loses
 * the command's $$NOW; this one gives the sub-pipelines options that already clone.
 */
function $facet(collection: LazyIterator, expr: Document, options: Options): LazyIterator {
  const outer = computeOptions(options);
  const cloning = computeOptions({ ...outer.options, processingMode: ProcessingMode.CLONE_INPUT }, outer.now);
  return pipelineOperators.$facet(collection, expr, cloning);
}

const AGGREGATION_CONTEXT = Context.init({
  accumulator: accumulatorOperators,
  expression: expressionOperators,
  pipeline: {
    ...pipelineOperators,
    $facet: $facet as unknown as typeof pipelineOperators.$facet,
    $limit: $limit as unknown as typeof pipelineOperators.$limit,
  },
  projection: projectionOperators,
  query: queryOperators,
  window: windowOperators,
});

/** Built once and copied per query; its own $$NOW is never read, so it never gets fixed. */
const BASE_OPTIONS = computeOptions({ ...MINGO_OPTIONS, context: AGGREGATION_CONTEXT });

const matchAll: DocumentPredicate = () => true;

/** $comment is a no-op annotation in mongod that mingo does not know about. */
function withoutComment(filter: Document): Document {
  if (!('$comment' in filter)) return filter;
  const { $comment: _comment, ...criteria } = filter;
  return criteria;
}

export interface FilterOptions {
  /** Command field named in mongod-style type errors. */
  field?: string;
  /**
   * The command's server time: what $$NOW is in an $expr. Left out only where the filter is
   * just being validated, or is evaluated outside any command (a partial index's filter, where
   * mongod allows no $expr).
   */
  now?: Date | undefined;
}

/** Compiles a query filter once so commands can test each candidate document cheaply. */
export function compileFilter(
  filter: unknown,
  { field = 'filter', now }: FilterOptions = {},
): DocumentPredicate {
  if (filter === undefined || filter === null) return matchAll;
  if (!isPlainObject(filter)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${field}' is the wrong type '${bsonTypeName(filter)}', expected type 'object'`,
    );
  }
  const criteria = withoutComment(filter);
  if (Object.keys(criteria).length === 0) return matchAll;
  const query = buildQuery(criteria, now);
  return (doc) => query.test(doc);
}

/** A query whose $expr conditions and projection expressions see $$NOW = `now`. */
export function createQuery(filter: Document, now: Date): Query {
  return buildQuery(filter, now);
}

function buildQuery(filter: Document, now: Date | undefined): Query {
  try {
    return new Query(withoutComment(filter), computeOptions(BASE_OPTIONS, now));
  } catch (error) {
    throw toMongoCommandError(error);
  }
}

/** A pipeline whose stages (and any sub-pipelines) see $$NOW = `now`. */
export function createAggregator(pipeline: Document[], now: Date, extra: Partial<Options> = {}): Aggregator {
  const options =
    Object.keys(extra).length === 0
      ? computeOptions(BASE_OPTIONS, now)
      : computeOptions({ ...MINGO_OPTIONS, ...extra, context: AGGREGATION_CONTEXT }, now);
  try {
    return new Aggregator(pipeline, options);
  } catch (error) {
    throw toMongoCommandError(error);
  }
}
