import type { Binary, Decimal128, Document, Long, ObjectId, Timestamp } from 'bson';

/*
 * Value semantics of BSON as mongod applies them: type brackets, equality, ordering, hashing
 * and the text form used in error messages.
 *
 * BSON classes are recognised by their `_bsontype` tag rather than `instanceof`: the driver
 * loads bson's CommonJS build while this ESM code gets the ESM build of the same package, so
 * both copies of e.g. ObjectId can meet here.
 */

type Tagged = { _bsontype: string };

export function bsonTypeTag(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null && '_bsontype' in value) {
    return (value as Tagged)._bsontype;
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function isNumeric(value: unknown): boolean {
  if (typeof value === 'number') return true;
  const tag = bsonTypeTag(value);
  return tag === 'Long' || tag === 'Decimal128' || tag === 'Int32' || tag === 'Double';
}

/** Numeric value as a JS number (precision loss for huge Long/Decimal128 is accepted). */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  switch (bsonTypeTag(value)) {
    case 'Long':
      return (value as Long).toNumber();
    case 'Decimal128':
      return Number((value as Decimal128).toString());
    case 'Int32':
    case 'Double':
      return (value as { value: number }).value;
    default:
      return Number.NaN;
  }
}

/** mongod's type name for a value, as it appears in error messages and `$type`. */
export function bsonTypeName(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 ? 'int' : 'double';
  }
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof Date) return 'date';
  if (value instanceof RegExp) return 'regex';
  if (Array.isArray(value)) return 'array';
  switch (bsonTypeTag(value)) {
    case 'ObjectId':
      return 'objectId';
    case 'Long':
      return 'long';
    case 'Decimal128':
      return 'decimal';
    case 'Int32':
      return 'int';
    case 'Double':
      return 'double';
    case 'Binary':
      return 'binData';
    case 'Timestamp':
      return 'timestamp';
    case 'BSONRegExp':
      return 'regex';
    case 'MinKey':
      return 'minKey';
    case 'MaxKey':
      return 'maxKey';
    case 'BSONSymbol':
      return 'symbol';
    case 'Code':
      return 'javascript';
    default:
      return 'object';
  }
}

/** Rank of a value's canonical type in mongod's cross-type sort order. */
function typeRank(value: unknown): number {
  switch (bsonTypeName(value)) {
    case 'minKey':
      return 0;
    case 'missing':
    case 'null':
      return 1;
    case 'int':
    case 'long':
    case 'double':
    case 'decimal':
      return 2;
    case 'string':
    case 'symbol':
      return 3;
    case 'object':
      return 4;
    case 'array':
      return 5;
    case 'binData':
      return 6;
    case 'objectId':
      return 7;
    case 'bool':
      return 8;
    case 'date':
      return 9;
    case 'timestamp':
      return 10;
    case 'regex':
      return 11;
    case 'javascript':
      return 12;
    default:
      return 13; // maxKey
  }
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNumbers(a: unknown, b: unknown): number {
  const tagA = bsonTypeTag(a);
  const tagB = bsonTypeTag(b);
  if (tagA === 'Long' && tagB === 'Long') return (a as Long).compare(b as Long);
  const x = toNumber(a);
  const y = toNumber(b);
  // mongod orders NaN below every other number.
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
  if (Number.isNaN(y)) return 1;
  return sign(x - y);
}

function compareEntries(a: [string, unknown][], b: [string, unknown][]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const [keyA, valueA] = a[i] as [string, unknown];
    const [keyB, valueB] = b[i] as [string, unknown];
    const byType = typeRank(valueA) - typeRank(valueB);
    if (byType !== 0) return sign(byType);
    const byName = compareStrings(keyA, keyB);
    if (byName !== 0) return byName;
    const byValue = compareBson(valueA, valueB);
    if (byValue !== 0) return byValue;
  }
  return sign(a.length - b.length);
}

function bytesOf(value: Binary): Uint8Array {
  return value.buffer.subarray(0, value.position);
}

/**
 * Total order over BSON values exactly as mongod's woCompare defines it (used by $min/$max,
 * $push $sort and distinct). Query sorting stays with mingo, which implements the array rules.
 */
export function compareBson(a: unknown, b: unknown): number {
  const byType = typeRank(a) - typeRank(b);
  if (byType !== 0) return sign(byType);
  switch (bsonTypeName(a)) {
    case 'missing':
    case 'null':
    case 'minKey':
    case 'maxKey':
      return 0;
    case 'int':
    case 'long':
    case 'double':
    case 'decimal':
      return compareNumbers(a, b);
    case 'string':
    case 'symbol':
      return compareStrings(String(a), String(b));
    case 'object':
      return compareEntries(Object.entries(a as Document), Object.entries(b as Document));
    case 'array':
      return compareEntries(
        (a as unknown[]).map((v, i) => [String(i), v]),
        (b as unknown[]).map((v, i) => [String(i), v]),
      );
    case 'binData': {
      const x = bytesOf(a as Binary);
      const y = bytesOf(b as Binary);
      if (x.length !== y.length) return sign(x.length - y.length);
      const bySubtype = (a as Binary).sub_type - (b as Binary).sub_type;
      if (bySubtype !== 0) return sign(bySubtype);
      return Buffer.compare(x, y);
    }
    case 'objectId':
      return compareStrings((a as ObjectId).toHexString(), (b as ObjectId).toHexString());
    case 'bool':
      return sign(Number(a) - Number(b));
    case 'date':
      return sign((a as Date).getTime() - (b as Date).getTime());
    case 'timestamp':
      return (a as Timestamp).compare(b as Timestamp);
    case 'regex': {
      const [sourceA, flagsA] = regexParts(a);
      const [sourceB, flagsB] = regexParts(b);
      return compareStrings(sourceA, sourceB) || compareStrings(flagsA, flagsB);
    }
    default:
      return compareStrings(String(a), String(b));
  }
}

function regexParts(value: unknown): [string, string] {
  if (value instanceof RegExp) return [value.source, value.flags];
  const r = value as { pattern: string; options: string };
  return [r.pattern, r.options];
}

/**
 * A string that is equal for two values exactly when mongod considers them equal: numbers of
 * any width compare by value, embedded documents are order-sensitive, strings are binary.
 * Unique indexes, `_id` lookups, $addToSet and distinct hash on it.
 */
export function canonicalKey(value: unknown): string {
  if (value === null || value === undefined) return 'n';
  switch (typeof value) {
    case 'number':
      return canonicalNumber(value);
    case 'string':
      return `s${JSON.stringify(value)}`;
    case 'boolean':
      return value ? 't' : 'f';
    default:
      break;
  }
  if (value instanceof Date) return `d${value.getTime()}`;
  if (value instanceof RegExp) return `r${JSON.stringify(value.source)}/${value.flags}`;
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(',')}]`;
  switch (bsonTypeTag(value)) {
    case undefined:
      break;
    case 'ObjectId':
      return `o${(value as ObjectId).toHexString()}`;
    case 'Long': {
      const long = value as Long;
      const asNumber = long.toNumber();
      return Number.isSafeInteger(asNumber) ? canonicalNumber(asNumber) : `#${long.toString()}`;
    }
    case 'Decimal128':
    case 'Int32':
    case 'Double':
      return canonicalNumber(toNumber(value));
    case 'Binary':
      return `b${(value as Binary).sub_type}:${Buffer.from(bytesOf(value as Binary)).toString('base64')}`;
    case 'Timestamp':
      return `T${(value as Timestamp).toString()}`;
    case 'BSONRegExp': {
      const [source, flags] = regexParts(value);
      return `r${JSON.stringify(source)}/${flags}`;
    }
    case 'MinKey':
      return 'm';
    case 'MaxKey':
      return 'M';
    case 'BSONSymbol':
      return `s${JSON.stringify(String((value as { value: string }).value))}`;
    default:
      return `x${bsonTypeTag(value)}:${JSON.stringify(value)}`;
  }
  const entries = Object.entries(value as Document).map(
    ([k, v]) => `${JSON.stringify(k)}:${canonicalKey(v)}`,
  );
  return `{${entries.join(',')}}`;
}

function canonicalNumber(n: number): string {
  // -0 and 0 are the same key in mongod; String() of an integer prints all digits below 1e21.
  return `#${Object.is(n, -0) ? 0 : n}`;
}

export function bsonEquals(a: unknown, b: unknown): boolean {
  return canonicalKey(a) === canonicalKey(b);
}

/**
 * Deep copy that keeps BSON classes intact. Immutable BSON values (ObjectId, Long, ...) are
 * shared; containers, Dates and binary payloads are copied.
 */
export function deepClone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(deepClone) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value instanceof RegExp) return new RegExp(value.source, value.flags) as T;
  if (value instanceof Uint8Array) return Uint8Array.prototype.slice.call(value) as T;
  const tag = bsonTypeTag(value);
  if (tag === 'Binary') {
    const binary = value as unknown as Binary;
    const Ctor = binary.constructor as new (buffer: Uint8Array, subType: number) => Binary;
    return new Ctor(Uint8Array.prototype.slice.call(bytesOf(binary)), binary.sub_type) as T;
  }
  if (tag !== undefined) return value;
  const copy: Document = {};
  for (const key of Object.keys(value)) copy[key] = deepClone((value as Document)[key]);
  return copy as T;
}

/** Renders a value the way mongod's BSONElement::toString does inside error messages. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (Number.isNaN(value)) return 'nan';
      if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
      return String(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return String(value);
    default:
      break;
  }
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[ ${value.map(formatValue).join(', ')} ]`;
  }
  switch (bsonTypeTag(value)) {
    case undefined:
      return formatDocument(value as Document);
    case 'ObjectId':
      return `ObjectId('${(value as ObjectId).toHexString()}')`;
    case 'Long':
    case 'Int32':
    case 'Double':
      return String(toNumber(value));
    case 'Decimal128':
      return `NumberDecimal("${(value as Decimal128).toString()}")`;
    case 'Binary':
      return `BinData(${(value as Binary).sub_type}, ${Buffer.from(bytesOf(value as Binary))
        .toString('hex')
        .toUpperCase()})`;
    case 'Timestamp': {
      const ts = value as Timestamp;
      return `Timestamp(${ts.t}, ${ts.i})`;
    }
    case 'BSONRegExp': {
      const [source, flags] = regexParts(value);
      return `/${source}/${flags}`;
    }
    case 'MinKey':
      return 'MinKey';
    case 'MaxKey':
      return 'MaxKey';
    default:
      return String(value);
  }
}

/** `{ a: 1, b: "x" }`, mongod's BSONObj::toString form. */
export function formatDocument(doc: Document): string {
  const entries = Object.entries(doc);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${k}: ${formatValue(v)}`).join(', ')} }`;
}

/** `{a: 1}`: how update errors print a single element (e.g. the document's `_id`). */
export function formatElement(key: string, value: unknown): string {
  return `{${key}: ${formatValue(value)}}`;
}
