import type { Document } from 'bson';
import {
  bsonTypeTag,
  formatDocument,
  formatValue,
  isNumeric,
  isPlainObject,
  toNumber,
} from './bson-values.js';
import { commandError, type MongoCommandError } from './errors.js';

/*
 * What mongod 7.0 accepts in an index's partialFilterExpression (IndexCatalogImpl's
 * _checkValidFilterExpressions, with $or and $in allowed since 6.0): equality ($eq or a plain
 * value), $exists: true, $gt, $gte, $lt, $lte, $type, $in, and $and / $or nested at most
 * four levels deep. Everything else ($ne, $nin, $not, $exists: false, regexes, $elemMatch,
 * $size, $mod, $all, $nor, $bits*, ...) fails with CannotCreateIndex and the rejected
 * expression printed in mongod's MatchExpression::debugString form.
 */

const MAX_DEPTH = 4;
const INDENT = '    ';

const SUPPORTED_FIELD_OPERATORS = new Set(['$eq', '$gt', '$gte', '$lt', '$lte', '$type', '$in']);

/** Thrown with the offending sub-expression's debug string; wrapped by the caller. */
class Unsupported {
  constructor(readonly debug: string) {}
}

function pad(level: number): string {
  return INDENT.repeat(level);
}

function isRegex(value: unknown): boolean {
  return value instanceof RegExp || bsonTypeTag(value) === 'BSONRegExp';
}

function isOperatorObject(value: unknown): value is Document {
  return (
    isPlainObject(value) && Object.keys(value).length > 0 && (Object.keys(value)[0] as string).startsWith('$')
  );
}

/** mongod's debugString of `path <op> value` for a few leaf shapes, close enough to read alike. */
function leaf(path: string, operator: string, value: unknown, level: number): string {
  switch (operator) {
    case '$regex':
      return `${pad(level)}${path} regex ${formatValue(value)}\n`;
    case '$exists':
      return `${pad(level)}${path} exists\n`;
    case '$size':
      return `${pad(level)}${path} $size : ${formatValue(value)}\n`;
    case '$elemMatch':
      return `${pad(level)}${path} $elemMatch ${formatValue(value)}\n`;
    default:
      return `${pad(level)}${path} ${operator} ${formatValue(value)}\n`;
  }
}

function checkField(path: string, value: unknown, level: number): void {
  if (isRegex(value)) throw new Unsupported(leaf(path, '$regex', value, level));
  if (!isOperatorObject(value)) return; // equality
  for (const [operator, operand] of Object.entries(value)) {
    if (SUPPORTED_FIELD_OPERATORS.has(operator)) {
      if (operator === '$eq' && isRegex(operand)) continue; // $eq with a regex is equality
      continue;
    }
    switch (operator) {
      case '$exists': {
        const truthy = operand === true || (isNumeric(operand) && toNumber(operand) !== 0);
        if (truthy) continue;
        throw new Unsupported(`${pad(level)}$not\n${leaf(path, '$exists', operand, level + 1)}`);
      }
      case '$ne':
        throw new Unsupported(`${pad(level)}$not\n${leaf(path, '$eq', operand, level + 1)}`);
      case '$nin':
        throw new Unsupported(`${pad(level)}$not\n${leaf(path, '$in', operand, level + 1)}`);
      case '$not': {
        const inner = isRegex(operand)
          ? leaf(path, '$regex', operand, level + 1)
          : `${pad(level + 1)}$and\n${Object.entries(operand as Document)
              .map(([op, v]) => leaf(path, op, v, level + 2))
              .join('')}`;
        throw new Unsupported(`${pad(level)}$not\n${inner}`);
      }
      case '$options':
        continue;
      default:
        throw new Unsupported(leaf(path, operator, operand, level));
    }
  }
}

function checkClause(filter: Document, level: number): void {
  if (level > MAX_DEPTH) {
    throw commandError('CannotCreateIndex', `partialFilterExpression depth may not exceed ${MAX_DEPTH}`);
  }
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      for (const child of value as Document[]) checkClause(child, level + 1);
      continue;
    }
    if (key === '$comment') continue;
    if (key === '$expr') {
      throw commandError('QueryFeatureNotAllowed', '$expr is not allowed in this context');
    }
    if (key === '$where') throw commandError('BadValue', '$where is not allowed in this context');
    if (key === '$text') {
      throw commandError('QueryFeatureNotAllowed', '$text is not allowed in this context');
    }
    if (key.startsWith('$')) throw new Unsupported(`${pad(0)}${key}\n${pad(1)}${formatValue(value)}\n`);
    checkField(key, value, 0);
  }
}

/**
 * Refuses a partial filter mongod would refuse. `spec` is the index specification as the client
 * sent it, which mongod prints (with `v` appended) in front of the reason.
 */
export function assertSupportedPartialFilter(filter: Document, spec: Document): void {
  try {
    checkClause(filter, 0);
  } catch (error) {
    if (!(error instanceof Unsupported)) throw wrap(error as MongoCommandError, spec);
    throw wrap(
      commandError('CannotCreateIndex', `Expression not supported in partial index: ${error.debug}`),
      spec,
    );
  }
}

function wrap(error: MongoCommandError, spec: Document): MongoCommandError {
  const { v: _v, ...rest } = spec;
  const shown = formatDocument({ ...rest, v: 2 });
  return commandError(
    error.codeName as Parameters<typeof commandError>[0],
    `Error in specification ${shown} :: caused by :: ${error.message}`,
  );
}
