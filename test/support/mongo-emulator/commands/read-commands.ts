import type { Document } from 'bson';
import { bsonTypeName, canonicalKey, compareBson, deepClone, isPlainObject } from '../bson-values.js';
import type { Collection } from '../collection.js';
import { parseBatchSize, type ResultStream } from '../cursor-registry.js';
import { commandError, notImplemented, toMongoCommandError } from '../errors.js';
import { EMPTY_ARRAY, expandPath } from '../field-paths.js';
import { queryStream } from '../query-executor.js';
import { compileFilter, createAggregator } from '../query-matcher.js';
import { planQuery } from '../query-planner.js';
import {
  type CommandHandler,
  nonNegative,
  optionalDocument,
  optionalNumber,
  requireArray,
  targetCollection,
} from './context.js';

function assertHintExists(collection: Collection | undefined, hint: unknown): void {
  if (hint === undefined || hint === null || !collection) return;
  if (isPlainObject(hint) && ('$natural' in hint || Object.keys(hint).length === 0)) return;
  const exists = collection.indexSpecs().some((spec) => {
    if (typeof hint === 'string') return spec.name === hint;
    if (isPlainObject(hint)) return canonicalKey(spec.key) === canonicalKey(hint);
    return false;
  });
  if (!exists) throw commandError('BadValue', 'hint provided does not correspond to an existing index');
}

/** find options with no emulation; accepting them silently would return the wrong thing. */
const UNSUPPORTED_FIND_OPTIONS = ['min', 'max', 'returnKey', 'showRecordId', 'tailable', 'awaitData'];

export const find: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'find', context);
  const unsupported = UNSUPPORTED_FIND_OPTIONS.find(
    (option) => ![undefined, false].includes(command[option]),
  );
  if (unsupported) throw notImplemented(`the find option '${unsupported}'`);
  const collection = context.store.collection(context.db, name);
  assertHintExists(collection, command.hint);
  const stream = queryStream(collection, {
    filter: optionalDocument(command, 'filter', 'find') ?? {},
    sort: optionalDocument(command, 'sort', 'find'),
    projection: optionalDocument(command, 'projection', 'find'),
    skip: nonNegative(optionalNumber(command, 'skip', 'find'), 'skip', 'find'),
    limit: nonNegative(optionalNumber(command, 'limit', 'find'), 'limit', 'find'),
    now: context.now,
  });
  return context.cursors.open(`${context.db}.${name}`, stream, {
    batchSize: parseBatchSize(command.batchSize, 'find.batchSize'),
    singleBatch: command.singleBatch === true,
    noCursorTimeout: command.noCursorTimeout === true,
  });
};

export const getMore: CommandHandler = (command, context) => context.cursors.getMore(command, context.db);

export const killCursors: CommandHandler = (command, context) => {
  targetCollection(command, 'killCursors', context);
  return context.cursors.kill(requireArray(command, 'cursors', 'killCursors'));
};

export const count: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'count', context);
  const collection = context.store.collection(context.db, name);
  const query = optionalDocument(command, 'query', 'count') ?? {};
  const skip = Math.max(0, optionalNumber(command, 'skip', 'count') ?? 0);
  const limit = Math.abs(optionalNumber(command, 'limit', 'count') ?? 0);
  assertHintExists(collection, command.hint);
  let n = 0;
  if (collection) {
    if (Object.keys(query).length === 0) {
      n = collection.size;
    } else {
      compileFilter(query, { field: 'count.query' });
      const plan = planQuery(collection, query);
      const matches = compileFilter(plan.residual, { now: context.now });
      for (const doc of plan.candidates) if (matches(doc)) n += 1;
    }
  }
  n = Math.max(0, n - skip);
  if (limit > 0) n = Math.min(n, limit);
  return { n, ok: 1 };
};

export const distinct: CommandHandler = (command, context) => {
  const name = targetCollection(command, 'distinct', context);
  const key = command.key;
  if (typeof key !== 'string') {
    throw commandError(
      'TypeMismatch',
      `BSON field 'distinct.key' is the wrong type '${bsonTypeName(key)}', expected type 'string'`,
    );
  }
  const query = optionalDocument(command, 'query', 'distinct') ?? {};
  const collection = context.store.collection(context.db, name);
  const values = new Map<string, unknown>();
  if (collection) {
    compileFilter(query, { field: 'distinct.query' });
    const plan = planQuery(collection, query);
    const matches = compileFilter(plan.residual, { now: context.now });
    for (const doc of plan.candidates) {
      if (!matches(doc)) continue;
      // Like mongod, arrays contribute their elements and missing fields contribute nothing.
      for (const value of expandPath(doc, key).values) {
        if (value === undefined || value === EMPTY_ARRAY) continue;
        const canonical = canonicalKey(value);
        if (!values.has(canonical)) values.set(canonical, value);
      }
    }
  }
  return { values: [...values.values()].sort(compareBson), ok: 1 };
};

/** Stages that never modify the documents they receive, so stored documents need no copy. */
const READ_ONLY_STAGES = new Set(['$match', '$sort', '$skip', '$limit', '$group', '$count', '$sortByCount']);
const UNSUPPORTED_STAGES = new Set([
  '$out',
  '$merge',
  '$changeStream',
  '$currentOp',
  '$collStats',
  '$indexStats',
]);

/**
 * The documents a pipeline starts from. A leading $match goes through the query planner, and
 * is replaced by whatever part of it the planner did not already answer.
 */
function aggregateSource(
  collection: Collection | undefined,
  pipeline: Document[],
): { source: Iterable<Document>; pipeline: Document[] } {
  if (!collection) return { source: [], pipeline };
  const first = pipeline[0];
  let stages = pipeline;
  let candidates: Iterable<Document> = collection.documents();
  if (first && isPlainObject(first.$match)) {
    compileFilter(first.$match, { field: '$match' });
    const plan = planQuery(collection, first.$match);
    candidates = plan.candidates;
    stages = [{ $match: plan.residual }, ...pipeline.slice(1)];
  }
  const readOnly = stages.every((stage) => READ_ONLY_STAGES.has(Object.keys(stage)[0] as string));
  if (readOnly) return { source: candidates, pipeline: stages };
  const cloned = (function* clone() {
    for (const doc of candidates) yield deepClone(doc);
  })();
  return { source: cloned, pipeline: stages };
}

export const aggregate: CommandHandler = (command, context) => {
  if (typeof command.aggregate !== 'string') {
    if (command.aggregate === 1) throw notImplemented('database-level aggregation ({aggregate: 1})');
    throw commandError(
      'InvalidNamespace',
      `collection name has invalid type ${bsonTypeName(command.aggregate)}`,
    );
  }
  const name = targetCollection(command, 'aggregate', context);
  const pipeline = requireArray(command, 'pipeline', 'aggregate') as Document[];
  if (command.explain) throw notImplemented('explain');
  const cursorOptions = optionalDocument(command, 'cursor', 'aggregate');
  if (!cursorOptions) {
    throw commandError(
      'FailedToParse',
      "The 'cursor' option is required, except for aggregate with the explain argument",
    );
  }
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
      throw commandError(
        'TypeMismatch',
        'A pipeline stage specification object must contain exactly one field.',
      );
    }
    const stageName = Object.keys(stage)[0] as string;
    if (UNSUPPORTED_STAGES.has(stageName)) throw notImplemented(`the ${stageName} aggregation stage`);
  }
  const collection = context.store.collection(context.db, name);
  assertHintExists(collection, command.hint);
  const { source, pipeline: stages } = aggregateSource(collection, pipeline);
  const aggregator = createAggregator(stages, context.now, {
    collectionResolver: (other: string) =>
      [...(context.store.collection(context.db, other)?.documents() ?? [])].map(deepClone),
  });
  let results: ResultStream;
  try {
    results = aggregator.stream(source) as unknown as ResultStream;
  } catch (error) {
    throw toMongoCommandError(error);
  }
  return context.cursors.open(`${context.db}.${name}`, translateErrors(results), {
    batchSize: parseBatchSize(cursorOptions.batchSize, 'aggregate.cursor.batchSize'),
  });
};

function translateErrors(stream: ResultStream): ResultStream {
  return {
    next() {
      try {
        return stream.next();
      } catch (error) {
        throw toMongoCommandError(error);
      }
    },
  };
}
