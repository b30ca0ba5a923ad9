import { type Document, Long, Timestamp } from 'bson';
import {
  bsonEquals,
  bsonTypeName,
  bsonTypeTag,
  canonicalKey,
  compareBson,
  deepClone,
  formatElement,
  formatValue,
  isNumeric,
  isPlainObject,
  toNumber,
} from './bson-values.js';
import { commandError, type MongoCommandError, notImplemented } from './errors.js';
import { getPath, isArrayIndex } from './field-paths.js';
import { createQuery } from './query-matcher.js';
import { type Modification, unknownModifier } from './update-modifications.js';

/*
 * The update operators themselves, applied to a private copy of the document with mongod's
 * path rules (intermediate documents are created, scalars in the way are errors, array slots
 * are addressed by index) and mongod's error codes and messages.
 */

export interface UpdateOptions {
  /** The command's server time: $currentDate and $$NOW. */
  now: Date;
  /** True while building the document an upsert inserts: enables $setOnInsert. */
  isInsert: boolean;
}

/** Applies parsed modifications to `doc` in place; callers pass a copy. */
export function applyModifications(
  doc: Document,
  modifications: Modification[],
  options: UpdateOptions,
): void {
  const context = new ModificationContext(doc, options);
  for (const modification of modifications) context.apply(modification);
}

type Container = Document | unknown[];

interface Location {
  container: Container;
  key: string;
  /** Name of the field holding `container`, for mongod's error messages. */
  containerName: string;
}

function readSlot(container: Container, key: string): unknown {
  return Array.isArray(container) ? container[Number(key)] : container[key];
}

function writeSlot(container: Container, key: string, value: unknown): void {
  if (Array.isArray(container)) {
    const index = Number(key);
    // mongod pads with nulls when setting past the end of an array.
    while (container.length < index) container.push(null);
    container[index] = value;
  } else {
    container[key] = value;
  }
}

function clearSlot(container: Container, key: string): void {
  if (Array.isArray(container)) {
    // $unset on an array element leaves a null so the other positions do not shift.
    const index = Number(key);
    if (index < container.length) container[index] = null;
  } else {
    delete container[key];
  }
}

class ModificationContext {
  private timestampCounter = 0;

  constructor(
    private readonly doc: Document,
    private readonly options: UpdateOptions,
  ) {}

  apply(m: Modification): void {
    switch (m.operator) {
      case '$set':
        this.set(m.path, deepClone(m.argument));
        return;
      case '$setOnInsert':
        if (this.options.isInsert) this.set(m.path, deepClone(m.argument));
        return;
      case '$unset': {
        const at = this.locate(m.path, false);
        if (at) clearSlot(at.container, at.key);
        return;
      }
      case '$inc':
      case '$mul':
        this.arithmetic(m);
        return;
      case '$min':
      case '$max':
        this.minMax(m);
        return;
      case '$currentDate':
        this.set(m.path, this.currentDate(m));
        return;
      case '$push':
        this.push(m);
        return;
      case '$addToSet':
        this.addToSet(m);
        return;
      case '$pull':
      case '$pullAll':
        this.pull(m);
        return;
      case '$pop':
        this.pop(m);
        return;
      case '$rename':
        this.rename(m);
        return;
      default:
        throw unknownModifier(m.operator);
    }
  }

  private idText(): string {
    return formatElement('_id', this.doc._id);
  }

  /**
   * Finds the slot a path refers to. With `create`, missing intermediate documents are added
   * and a path that runs into a scalar fails as it does in mongod; without it, such paths
   * simply do not exist.
   */
  private locate(path: string, create: boolean): Location | undefined {
    const parts = path.split('.');
    let container: Container = this.doc;
    let containerName = '';
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i] as string;
      if (Array.isArray(container) && !isArrayIndex(part)) {
        if (!create) return undefined;
        throw this.cannotCreate(part, containerName, container);
      }
      let child = readSlot(container, part);
      if (child === undefined) {
        if (!create) return undefined;
        child = {};
        writeSlot(container, part, child);
      } else if (!isPlainObject(child) && !Array.isArray(child)) {
        if (!create) return undefined;
        throw this.cannotCreate(parts[i + 1] as string, part, child);
      }
      container = child as Container;
      containerName = part;
    }
    const key = parts[parts.length - 1] as string;
    if (Array.isArray(container) && !isArrayIndex(key)) {
      if (!create) return undefined;
      throw this.cannotCreate(key, containerName, container);
    }
    return { container, key, containerName };
  }

  private cannotCreate(field: string, name: string, value: unknown): MongoCommandError {
    return commandError(
      'PathNotViable',
      `Cannot create field '${field}' in element ${formatElement(name, value)}`,
    );
  }

  private set(path: string, value: unknown): void {
    const at = this.locate(path, true) as Location;
    writeSlot(at.container, at.key, value);
  }

  private arithmetic(m: Modification): void {
    const isInc = m.operator === '$inc';
    if (!isNumeric(m.argument)) {
      throw commandError(
        'TypeMismatch',
        `Cannot ${isInc ? 'increment' : 'multiply'} with non-numeric argument: ${formatElement(m.path, m.argument)}`,
      );
    }
    const at = this.locate(m.path, true) as Location;
    const current = readSlot(at.container, at.key);
    if (current === undefined) {
      // $mul on a missing field stores a zero of the argument's type.
      writeSlot(
        at.container,
        at.key,
        isInc ? m.argument : bsonTypeTag(m.argument) === 'Long' ? Long.ZERO : 0,
      );
      return;
    }
    if (!isNumeric(current)) {
      throw commandError(
        'TypeMismatch',
        `Cannot apply ${m.operator} to a value of non-numeric type. ${this.idText()} has the field '${at.key}' of non-numeric type ${bsonTypeName(current)}`,
      );
    }
    writeSlot(at.container, at.key, isInc ? add(current, m.argument) : multiply(current, m.argument));
  }

  private minMax(m: Modification): void {
    const at = this.locate(m.path, true) as Location;
    const current = readSlot(at.container, at.key);
    const order = current === undefined ? 0 : compareBson(m.argument, current);
    if (current === undefined || (m.operator === '$min' ? order < 0 : order > 0)) {
      writeSlot(at.container, at.key, deepClone(m.argument));
    }
  }

  private currentDate(m: Modification): Date | Timestamp {
    const now = this.options.now;
    if (typeof m.argument === 'boolean') return new Date(now.getTime());
    if (isPlainObject(m.argument) && Object.keys(m.argument).length === 1) {
      if (m.argument.$type === 'date') return new Date(now.getTime());
      if (m.argument.$type === 'timestamp') {
        this.timestampCounter += 1;
        return new Timestamp({ t: Math.floor(now.getTime() / 1000), i: this.timestampCounter });
      }
      throw commandError(
        'BadValue',
        "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}",
      );
    }
    throw commandError(
      'BadValue',
      `${formatElement(m.path, m.argument)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`,
    );
  }

  private arrayAt(at: Location, describe: (type: string) => string): unknown[] | undefined {
    const current = readSlot(at.container, at.key);
    if (current === undefined) return undefined;
    if (!Array.isArray(current)) throw commandError('BadValue', describe(bsonTypeName(current)));
    return current;
  }

  private push(m: Modification): void {
    const at = this.locate(m.path, true) as Location;
    const current =
      this.arrayAt(
        at,
        (type) =>
          `The field '${at.key}' must be an array but is of type ${type} in document ${this.idText()}`,
      ) ?? [];
    const spec = parsePushArgument(m.argument);
    const result = current.slice();
    const items = spec.each.map((item) => deepClone(item));
    if (spec.position === undefined) {
      result.push(...items);
    } else {
      const position = spec.position < 0 ? Math.max(0, result.length + spec.position) : spec.position;
      result.splice(Math.min(position, result.length), 0, ...items);
    }
    if (spec.sort !== undefined) result.sort(pushSortComparator(spec.sort));
    if (spec.slice !== undefined) {
      const kept = spec.slice >= 0 ? result.slice(0, spec.slice) : result.slice(spec.slice);
      result.length = 0;
      result.push(...kept);
    }
    writeSlot(at.container, at.key, result);
  }

  private addToSet(m: Modification): void {
    const at = this.locate(m.path, true) as Location;
    const current =
      this.arrayAt(
        at,
        (type) =>
          `Cannot apply $addToSet to non-array field. Field named '${at.key}' has non-array type ${type}`,
      ) ?? [];
    let items: unknown[] = [m.argument];
    if (isPlainObject(m.argument) && '$each' in m.argument) {
      const each = m.argument.$each;
      if (!Array.isArray(each)) {
        throw commandError(
          'TypeMismatch',
          `The argument to $each in $addToSet must be an array but it was of type ${bsonTypeName(each)}`,
        );
      }
      items = each;
    }
    const present = new Set(current.map(canonicalKey));
    const result = current.slice();
    for (const item of items) {
      const key = canonicalKey(item);
      if (present.has(key)) continue;
      present.add(key);
      result.push(deepClone(item));
    }
    writeSlot(at.container, at.key, result);
  }

  private pull(m: Modification): void {
    const at = this.locate(m.path, false);
    if (!at) return;
    const current = this.arrayAt(at, () => `Cannot apply ${m.operator} to a non-array value`);
    if (!current) return;
    let matches: (element: unknown) => boolean;
    if (m.operator === '$pullAll') {
      if (!Array.isArray(m.argument)) {
        throw commandError(
          'BadValue',
          `$pullAll requires an array argument but was given a ${bsonTypeName(m.argument)}`,
        );
      }
      const unwanted = new Set(m.argument.map(canonicalKey));
      matches = (element) => unwanted.has(canonicalKey(element));
    } else {
      matches = pullMatcher(m.argument, this.options.now);
    }
    writeSlot(
      at.container,
      at.key,
      current.filter((element) => !matches(element)),
    );
  }

  private pop(m: Modification): void {
    const direction = toNumber(m.argument);
    if (!isNumeric(m.argument) || (direction !== 1 && direction !== -1)) {
      throw commandError('FailedToParse', `$pop expects 1 or -1, found: ${formatValue(m.argument)}`);
    }
    const at = this.locate(m.path, false);
    if (!at) return;
    const current = readSlot(at.container, at.key);
    if (current === undefined) return;
    if (!Array.isArray(current)) {
      throw commandError(
        'TypeMismatch',
        `Path '${m.path}' contains an element of non-array type '${bsonTypeName(current)}'`,
      );
    }
    writeSlot(at.container, at.key, direction === 1 ? current.slice(0, -1) : current.slice(1));
  }

  private rename(m: Modification): void {
    this.assertNoArrayOnPath(m.path, 'source');
    const from = this.locate(m.path, false);
    if (!from) return;
    const value = readSlot(from.container, from.key);
    if (value === undefined) return;
    this.assertNoArrayOnPath(m.target, 'destination');
    clearSlot(from.container, from.key);
    this.set(m.target, value);
  }

  private assertNoArrayOnPath(path: string, role: 'source' | 'destination'): void {
    const parts = path.split('.');
    for (let i = 1; i < parts.length; i++) {
      const parentPath = parts.slice(0, i).join('.');
      if (Array.isArray(getPath(this.doc, parentPath))) {
        throw commandError(
          'BadValue',
          `The ${role} field cannot be an array element, '${path}' in doc with ${this.idText().slice(1, -1)} has an array field called '${parts[i - 1]}'`,
        );
      }
    }
  }
}

function add(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (bsonTypeTag(a) === 'Decimal128' || bsonTypeTag(b) === 'Decimal128') {
    throw notImplemented('arithmetic on Decimal128 values');
  }
  if (Number.isInteger(toNumber(a)) && Number.isInteger(toNumber(b))) {
    return Long.fromValue(a as Long).add(Long.fromValue(b as Long));
  }
  return toNumber(a) + toNumber(b);
}

function multiply(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (bsonTypeTag(a) === 'Decimal128' || bsonTypeTag(b) === 'Decimal128') {
    throw notImplemented('arithmetic on Decimal128 values');
  }
  if (Number.isInteger(toNumber(a)) && Number.isInteger(toNumber(b))) {
    return Long.fromValue(a as Long).multiply(Long.fromValue(b as Long));
  }
  return toNumber(a) * toNumber(b);
}

interface PushSpec {
  each: unknown[];
  position?: number;
  slice?: number;
  sort?: unknown;
}

function parsePushArgument(argument: unknown): PushSpec {
  if (!isPlainObject(argument) || !('$each' in argument)) return { each: [argument] };
  const spec: PushSpec = { each: [] };
  for (const [clause, value] of Object.entries(argument)) {
    switch (clause) {
      case '$each':
        if (!Array.isArray(value)) {
          throw commandError(
            'BadValue',
            `The argument to $each in $push must be an array but it was of type: ${bsonTypeName(value)}`,
          );
        }
        spec.each = value;
        break;
      case '$position':
      case '$slice':
        if (!isNumeric(value) || !Number.isInteger(toNumber(value))) {
          throw commandError(
            'BadValue',
            `The value for ${clause} must be an integer value but was given type: ${bsonTypeName(value)}`,
          );
        }
        spec[clause === '$position' ? 'position' : 'slice'] = toNumber(value);
        break;
      case '$sort':
        spec.sort = value;
        break;
      default:
        throw commandError('BadValue', `Unrecognized clause in $push: ${clause}`);
    }
  }
  return spec;
}

function pushSortComparator(sort: unknown): (a: unknown, b: unknown) => number {
  if (isNumeric(sort)) {
    const direction = toNumber(sort);
    if (direction !== 1 && direction !== -1) {
      throw commandError('BadValue', 'The $sort element value must be either 1 or -1');
    }
    return (a, b) => direction * compareBson(a, b);
  }
  if (!isPlainObject(sort) || Object.keys(sort).length === 0) {
    throw commandError(
      'BadValue',
      'The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields',
    );
  }
  const keys = Object.entries(sort).map(([path, direction]) => [path, toNumber(direction)] as const);
  return (a, b) => {
    for (const [path, direction] of keys) {
      const order = compareBson(getPath(a, path) ?? null, getPath(b, path) ?? null);
      if (order !== 0) return direction * order;
    }
    return 0;
  };
}

const TOP_LEVEL_QUERY_OPERATORS = new Set([
  '$and',
  '$or',
  '$nor',
  '$expr',
  '$where',
  '$jsonSchema',
  '$comment',
]);

/**
 * $pull treats a document argument as a query on each element, an operator expression as a
 * condition on the element itself, and anything else as a value to compare with.
 */
function pullMatcher(condition: unknown, now: Date): (element: unknown) => boolean {
  if (!isPlainObject(condition) || Object.keys(condition).length === 0) {
    return (element) => bsonEquals(element, condition);
  }
  const keys = Object.keys(condition);
  const isFieldCondition = keys.every((k) => k.startsWith('$') && !TOP_LEVEL_QUERY_OPERATORS.has(k));
  if (isFieldCondition) {
    const query = createQuery({ value: condition }, now);
    return (element) => query.test({ value: element });
  }
  const query = createQuery(condition, now);
  return (element) => isPlainObject(element) && query.test(element);
}
