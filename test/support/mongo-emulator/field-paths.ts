import { isPlainObject } from './bson-values.js';

/** Stands for an empty array met at the end of a path; mongod indexes it as `undefined`. */
export const EMPTY_ARRAY: unique symbol = Symbol('empty array');

export type PathValue = unknown | typeof EMPTY_ARRAY;

export function isArrayIndex(part: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(part);
}

/**
 * Every value a dotted path reaches, following mongod's multikey rules: arrays met along the
 * way are traversed element by element, an array at the end contributes its elements, and a
 * path that dead-ends yields `undefined` (which indexes treat as null).
 */
export function expandPath(doc: unknown, path: string): { values: PathValue[]; multikey: boolean } {
  const parts = path.split('.');
  const values: PathValue[] = [];
  let multikey = false;

  const walk = (value: unknown, i: number): void => {
    if (i === parts.length) {
      if (Array.isArray(value)) {
        multikey = true;
        if (value.length === 0) values.push(EMPTY_ARRAY);
        else values.push(...value);
      } else {
        values.push(value);
      }
      return;
    }
    const part = parts[i] as string;
    if (Array.isArray(value)) {
      multikey = true;
      if (isArrayIndex(part)) {
        walk(value[Number(part)], i + 1);
        return;
      }
      const before = values.length;
      for (const element of value) {
        if (isPlainObject(element)) walk(element, i);
      }
      if (values.length === before) values.push(undefined);
      return;
    }
    if (isPlainObject(value)) {
      walk(value[part], i + 1);
      return;
    }
    values.push(undefined);
  };

  walk(doc, 0);
  return { values, multikey };
}

/** Plain dotted lookup without array expansion (numeric parts index into arrays). */
export function getPath(doc: unknown, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(current)) {
      if (!isArrayIndex(part)) return undefined;
      current = current[Number(part)];
    } else if (isPlainObject(current)) {
      current = current[part];
    } else {
      return undefined;
    }
  }
  return current;
}

/** True when one path equals the other or is a dotted prefix of it ('a' and 'a.b'). */
export function pathsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  return a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}
