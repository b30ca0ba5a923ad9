import type { Document } from 'bson';
import { bsonTypeName, formatValue, isPlainObject } from './bson-values.js';
import { commandError, type MongoCommandError, notImplemented } from './errors.js';
import { isArrayIndex, pathsOverlap } from './field-paths.js';

/*
 * Parsing of an operator-style update document into individual field modifications, with
 * mongod's validation: unknown modifiers, bad paths, $rename rules and conflicting paths.
 */

const OPERATORS = new Set([
  '$set',
  '$unset',
  '$inc',
  '$mul',
  '$setOnInsert',
  '$push',
  '$pull',
  '$pullAll',
  '$addToSet',
  '$pop',
  '$min',
  '$max',
  '$currentDate',
  '$rename',
  '$bit',
]);

export interface Modification {
  operator: string;
  path: string;
  argument: unknown;
  /** Where the modification writes; differs from `path` only for $rename. */
  target: string;
}

export function unknownModifier(name: string): MongoCommandError {
  return commandError(
    'FailedToParse',
    `Unknown modifier: ${name}. Expected a valid update modifier or pipeline-style update specified as an array`,
  );
}

export function parseModifications(update: Document): Modification[] {
  const modifications: Modification[] = [];
  for (const [operator, operand] of Object.entries(update)) {
    if (!OPERATORS.has(operator)) throw unknownModifier(operator);
    if (!isPlainObject(operand)) {
      throw commandError(
        'FailedToParse',
        `Modifiers operate on fields but we found type ${bsonTypeName(operand)} instead. For example: {$mod: {<field>: ...}} not {${operator}: ${formatValue(operand)}}`,
      );
    }
    if (operator === '$bit') throw notImplemented('the $bit update operator');
    for (const [path, argument] of Object.entries(operand)) {
      validateUpdatePath(path);
      let target = path;
      if (operator === '$rename') {
        target = validateRename(path, argument);
      }
      modifications.push({ operator, path, argument, target });
    }
  }
  assertNoConflicts(modifications);
  // Since MongoDB 5.0 updates visit fields in lexicographic (numeric for numeric names) order,
  // which decides where newly created fields land in the document.
  return modifications.sort((a, b) => comparePaths(a.target, b.target));
}

function validateUpdatePath(path: string): void {
  if (path === '') throw commandError('EmptyFieldName', 'An empty update path is not valid.');
  for (const part of path.split('.')) {
    if (part === '') {
      throw commandError(
        'EmptyFieldName',
        `The update path '${path}' contains an empty field name, which is not allowed.`,
      );
    }
    if (part === '$' || part.startsWith('$[')) {
      throw notImplemented(`positional update operators ('${path}')`);
    }
    if (part.startsWith('$')) {
      throw commandError(
        'DollarPrefixedFieldName',
        `The dollar ($) prefixed field '${part}' in '${path}' is not valid for storage.`,
      );
    }
  }
}

function validateRename(from: string, to: unknown): string {
  if (typeof to !== 'string') {
    throw commandError(
      'BadValue',
      `The 'to' field for $rename must be a string: ${from}: ${formatValue(to)}`,
    );
  }
  validateUpdatePath(to);
  if (to === from) {
    throw commandError('BadValue', `The source and target field for $rename must differ: ${from}: "${to}"`);
  }
  if (pathsOverlap(from, to)) {
    throw commandError(
      'BadValue',
      `The source and target field for $rename must not be on the same path: ${from}: "${to}"`,
    );
  }
  return to;
}

function assertNoConflicts(modifications: Modification[]): void {
  const seen: string[] = [];
  const claim = (path: string) => {
    for (const other of seen) {
      if (pathsOverlap(path, other)) {
        const at = other.length <= path.length ? other : path;
        throw commandError(
          'ConflictingUpdateOperators',
          `Updating the path '${path}' would create a conflict at '${at}'`,
        );
      }
    }
    seen.push(path);
  };
  for (const modification of modifications) {
    claim(modification.path);
    if (modification.target !== modification.path) claim(modification.target);
  }
}

function comparePaths(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p === q) continue;
    if (isArrayIndex(p) && isArrayIndex(q)) return Number(p) - Number(q);
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}
