import type { Document } from 'bson';
import { isNumeric, isPlainObject, toNumber } from './bson-values.js';
import { commandError, locationError } from './errors.js';

/*
 * find-style projections. mingo evaluates them, except for what it gets wrong: a $slice-only
 * projection keeps every other field in mongod (mingo drops them), and $slice may be combined
 * with exclusions (mingo rejects that).
 */

export interface PreparedProjection {
  /** What to hand to mingo; empty means "whole document". */
  base: Document;
  /** Applied to each projected document to finish the job. */
  finish: (doc: Document) => Document;
}

const identity = (doc: Document): Document => doc;

function isSliceSpec(value: unknown): value is { $slice: number | [number, number] } {
  if (!isPlainObject(value) || Object.keys(value).length !== 1 || !('$slice' in value)) return false;
  const spec = value.$slice;
  return isNumeric(spec) || (Array.isArray(spec) && spec.length === 2 && spec.every(isNumeric));
}

/** mongod rejects projections mixing inclusion and exclusion (`_id` aside) with these codes. */
export function assertValidProjection(projection: Document | undefined): void {
  if (!projection) return;
  let mode: 'inclusion' | 'exclusion' | undefined;
  for (const [field, value] of Object.entries(projection)) {
    if (field === '_id' || (typeof value !== 'number' && typeof value !== 'boolean')) continue;
    const kind = value ? 'inclusion' : 'exclusion';
    if (mode === undefined) {
      mode = kind;
    } else if (mode !== kind) {
      throw kind === 'exclusion'
        ? locationError(31254, `Cannot do exclusion on field ${field} in inclusion projection`)
        : locationError(31253, `Cannot do inclusion on field ${field} in exclusion projection`);
    }
  }
}

function sliceArray(array: unknown[], spec: number | [number, number]): unknown[] {
  if (!Array.isArray(spec)) {
    const n = toNumber(spec);
    return n >= 0 ? array.slice(0, n) : array.slice(n);
  }
  const skip = toNumber(spec[0]);
  const limit = toNumber(spec[1]);
  if (limit <= 0) throw commandError('BadValue', `$slice limit must be positive`);
  const start = skip < 0 ? Math.max(0, array.length + skip) : Math.min(skip, array.length);
  return array.slice(start, start + limit);
}

/** Slices the array at `path`, copying the containers on the way so shared objects stay intact. */
function applySlice(doc: Document, path: string, spec: number | [number, number]): Document {
  const parts = path.split('.');
  const result: Document = { ...doc };
  let target = result;
  for (const part of parts.slice(0, -1)) {
    const next = target[part];
    if (!isPlainObject(next)) return result;
    const copy = { ...next };
    target[part] = copy;
    target = copy;
  }
  const last = parts[parts.length - 1] as string;
  const value = target[last];
  if (Array.isArray(value)) target[last] = sliceArray(value, spec);
  return result;
}

export function prepareProjection(projection: Document | undefined): PreparedProjection {
  if (!projection || Object.keys(projection).length === 0) return { base: {}, finish: identity };
  assertValidProjection(projection);
  const slices: [string, number | [number, number]][] = [];
  const rest: Document = {};
  for (const [field, value] of Object.entries(projection)) {
    if (isSliceSpec(value)) slices.push([field, value.$slice]);
    else rest[field] = value;
  }
  if (slices.length === 0) return { base: projection, finish: identity };

  const isInclusion = Object.entries(rest).some(
    ([field, value]) =>
      field !== '_id' && (typeof value !== 'number' && typeof value !== 'boolean' ? true : !!value),
  );
  // In an inclusion projection the sliced fields are included; otherwise they ride along.
  const base = isInclusion ? { ...rest, ...Object.fromEntries(slices.map(([field]) => [field, 1])) } : rest;
  return {
    base,
    finish: (doc) => slices.reduce((current, [field, spec]) => applySlice(current, field, spec), doc),
  };
}
