import { randomBytes } from 'node:crypto';
import { calculateObjectSize, type Document, Long } from 'bson';
import { bsonTypeName, bsonTypeTag, isNumeric, toNumber } from './bson-values.js';
import { commandError, MongoCommandError } from './errors.js';

/** A lazily evaluated result set; each call computes the next document only when needed. */
export interface ResultStream extends Iterator<Document, unknown, undefined> {
  /** True once the stream knows it is done without another next() (e.g. its limit is reached). */
  readonly finished?: boolean;
}

export interface CursorOptions {
  /** Documents in the first batch; mongod's default is 101. */
  batchSize?: number;
  singleBatch?: boolean;
  noCursorTimeout?: boolean;
}

/** mongod caps a reply batch at 16 MiB of documents (a batch always holds at least one). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** Array element overhead in a reply: type byte, decimal index, NUL. */
const ELEMENT_OVERHEAD = 8;
const DEFAULT_FIRST_BATCH = 101;
/** mongod's cursorTimeoutMillis default. */
export const CURSOR_IDLE_TIMEOUT_MS = 10 * 60 * 1000;

export interface CursorTimeouts {
  /** mongod's cursorTimeoutMillis (default 10 minutes): cursors opened outside a session. */
  idleMs?: number;
  /**
   * A cursor opened within a session (any command carrying `lsid`) is not reaped by
   * cursorTimeoutMillis since MongoDB 4.4.8/5.0 but closes with its session, after
   * localLogicalSessionTimeoutMinutes (default 30) without use.
   */
  sessionIdleMs?: number;
}

interface OpenCursor {
  id: Long;
  ns: string;
  stream: ResultStream;
  lastUsed: number;
  noTimeout: boolean;
  /** Opened within a session: it lives as long as the session does. */
  sessionBound: boolean;
  /** Set when the cursor's collection went away; reported on the next getMore. */
  killedBy?: MongoCommandError;
}

function fillBatch(stream: ResultStream, maxDocs: number): { docs: Document[]; exhausted: boolean } {
  const docs: Document[] = [];
  let bytes = 0;
  while (docs.length < maxDocs) {
    const next = stream.next();
    if (next.done) return { docs, exhausted: true };
    docs.push(next.value);
    bytes += calculateObjectSize(next.value) + ELEMENT_OVERHEAD;
    if (bytes >= MAX_BATCH_BYTES) break;
  }
  return { docs, exhausted: stream.finished === true };
}

export function parseBatchSize(value: unknown, field = 'batchSize'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isNumeric(value)) {
    throw commandError(
      'TypeMismatch',
      `BSON field '${field}' is the wrong type '${bsonTypeName(value)}', expected types '[long, int, decimal, double]'`,
    );
  }
  const n = Math.trunc(toNumber(value));
  if (n < 0) throw commandError('BadValue', `BSON field '${field}' value must be >= 0, actual value '${n}'`);
  return n;
}

function cursorKey(id: unknown): string | undefined {
  if (typeof id === 'number') return String(Math.trunc(id));
  if (typeof id === 'bigint') return id.toString();
  if (bsonTypeTag(id) === 'Long') return (id as Long).toString();
  return undefined;
}

/**
 * Open server-side cursors. A cursor holds only its lazy stream, so a getMore computes just
 * the next batch instead of re-running or copying the whole result.
 */
export class CursorRegistry {
  private readonly cursors = new Map<string, OpenCursor>();
  private readonly idleMs: number;
  private readonly sessionIdleMs: number;
  /** Set by the dispatcher while a command carrying an `lsid` runs. */
  sessionBound = false;

  constructor(timeouts: CursorTimeouts = {}) {
    this.idleMs = timeouts.idleMs ?? CURSOR_IDLE_TIMEOUT_MS;
    this.sessionIdleMs = timeouts.sessionIdleMs ?? 30 * 60 * 1000;
  }

  /** Builds a find/aggregate style reply, registering a cursor if results remain. */
  open(ns: string, stream: ResultStream, options: CursorOptions = {}): Document {
    const batchSize = options.batchSize ?? DEFAULT_FIRST_BATCH;
    const { docs, exhausted } =
      batchSize === 0 && !options.singleBatch
        ? { docs: [], exhausted: false }
        : fillBatch(stream, batchSize === 0 ? Number.POSITIVE_INFINITY : batchSize);
    let id = Long.ZERO;
    if (!exhausted && !options.singleBatch) {
      id = this.newId();
      this.cursors.set(id.toString(), {
        id,
        ns,
        stream,
        lastUsed: Date.now(),
        noTimeout: options.noCursorTimeout === true,
        sessionBound: this.sessionBound,
      });
    } else {
      stream.return?.();
    }
    return { cursor: { firstBatch: docs, id, ns }, ok: 1 };
  }

  getMore(command: Document, db: string): Document {
    const key = cursorKey(command.getMore);
    if (key === undefined) {
      throw commandError(
        'TypeMismatch',
        `BSON field 'getMore.getMore' is the wrong type '${bsonTypeName(command.getMore)}', expected type 'long'`,
      );
    }
    if (typeof command.collection !== 'string') {
      throw commandError(
        'TypeMismatch',
        `BSON field 'getMore.collection' is the wrong type '${bsonTypeName(command.collection)}', expected type 'string'`,
      );
    }
    const cursor = this.cursors.get(key);
    // mongod reaps idle cursors from a periodic job; a getMore after the timeout finds none.
    if (cursor && this.idleTooLong(cursor, Date.now())) {
      this.cursors.delete(key);
      cursor.stream.return?.();
    }
    if (!cursor || !this.cursors.has(key)) throw commandError('CursorNotFound', `cursor id ${key} not found`);
    const ns = `${db}.${command.collection}`;
    if (cursor.ns !== ns) {
      throw new MongoCommandError(
        13,
        'Unauthorized',
        `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${cursor.ns}`,
      );
    }
    if (cursor.killedBy) {
      this.cursors.delete(key);
      throw cursor.killedBy;
    }
    const batchSize = parseBatchSize(command.batchSize, 'getMore.batchSize') || Number.POSITIVE_INFINITY;
    const { docs, exhausted } = fillBatch(cursor.stream, batchSize);
    cursor.lastUsed = Date.now();
    if (exhausted) this.cursors.delete(key);
    return { cursor: { nextBatch: docs, id: exhausted ? Long.ZERO : cursor.id, ns }, ok: 1 };
  }

  kill(ids: unknown): Document {
    const killed: Long[] = [];
    const notFound: unknown[] = [];
    for (const id of Array.isArray(ids) ? ids : []) {
      const key = cursorKey(id);
      const cursor = key === undefined ? undefined : this.cursors.get(key);
      if (cursor && key !== undefined) {
        this.cursors.delete(key);
        cursor.stream.return?.();
        killed.push(cursor.id);
      } else {
        notFound.push(id);
      }
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  }

  /** Collection or database dropped: its cursors fail on their next getMore, like mongod's. */
  invalidate(matches: (ns: string) => boolean, reason: string): void {
    for (const cursor of this.cursors.values()) {
      if (matches(cursor.ns)) cursor.killedBy = commandError('QueryPlanKilled', reason);
    }
  }

  expireIdle(nowMs: number): void {
    for (const [key, cursor] of this.cursors) {
      if (this.idleTooLong(cursor, nowMs)) {
        this.cursors.delete(key);
        cursor.stream.return?.();
      }
    }
  }

  private idleTooLong(cursor: OpenCursor, nowMs: number): boolean {
    const idle = nowMs - cursor.lastUsed;
    // noCursorTimeout does not outlive the session (the manual: session idle timeout overrides it).
    if (cursor.sessionBound) return idle > this.sessionIdleMs;
    return !cursor.noTimeout && idle > this.idleMs;
  }

  clear(): void {
    this.cursors.clear();
  }

  get openCount(): number {
    return this.cursors.size;
  }

  private newId(): Long {
    for (;;) {
      // Positive, non-zero 63-bit ids like mongod's; random so they are not guessable across runs.
      const bytes = randomBytes(8);
      bytes[7] = (bytes[7] as number) & 0x7f;
      const id = Long.fromBytesLE([...bytes]);
      if (!id.isZero() && !this.cursors.has(id.toString())) return id;
    }
  }
}
