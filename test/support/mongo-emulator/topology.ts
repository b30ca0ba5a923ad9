import { Binary, type Document, Long, ObjectId, Timestamp } from 'bson';
import { formatValue, isNumeric, isPlainObject, toNumber } from './bson-values.js';
import { commandError, locationError } from './errors.js';

/*
 * What the emulator presents itself as: a standalone mongod (the default) or the only member of
 * a replica set (`replSet`), which is what a driver connecting with `?replicaSet=` needs to
 * find a primary. The replica-set mode adds what a single-node set adds: hello's set fields and
 * topologyVersion, logical sessions, $clusterTime/operationTime on replies, and retryable
 * writes (a write retried with the same lsid and txnNumber answers the first result instead of
 * applying twice).
 */

/** Write commands that take a txnNumber outside a transaction (mongod's retryable writes). */
const RETRYABLE_WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);

/** Commands that write; each advances the cluster time. */
const WRITE_COMMANDS = new Set([
  'insert',
  'update',
  'delete',
  'findAndModify',
  'findandmodify',
  'create',
  'drop',
  'dropDatabase',
  'createIndexes',
  'dropIndexes',
  'deleteIndexes',
  'collMod',
]);

/** mongod's localLogicalSessionTimeoutMinutes default. */
export const SESSION_TIMEOUT_MS = 30 * 60 * 1000;

/** A replica set member's `electionId` for term 1, as a fresh single-node set reports it. */
const ELECTION_ID = new ObjectId('7fffffff0000000000000001');

interface RetryRecord {
  txnNumber: number;
  reply: Document;
  lastUse: number;
}

export interface RetryableWrite {
  session: string;
  txnNumber: number;
  /** The reply of the first execution when this is a retry. */
  replay?: Document;
}

export class ServerTopology {
  readonly processId = new ObjectId();
  private clusterTime = new Timestamp({ t: Math.floor(Date.now() / 1000), i: 1 });
  private readonly retryRecords = new Map<string, RetryRecord>();
  /** Server parameters getParameter reports (ttlMonitorSleepSecs, cursorTimeoutMillis, ...). */
  parameters: Document = {};

  constructor(
    /** The replica set name; undefined for a standalone. */
    readonly replSet: string | undefined,
    /** `host:port` as clients address this server. */
    private readonly address: () => string,
    readonly sessionTimeoutMs: number = SESSION_TIMEOUT_MS,
  ) {}

  get isReplicaSet(): boolean {
    return this.replSet !== undefined;
  }

  /** hello/isMaster fields beyond a standalone's. */
  helloFields(): Document {
    if (!this.replSet) return {};
    const me = this.address();
    return {
      topologyVersion: { processId: this.processId, counter: Long.ZERO },
      hosts: [me],
      setName: this.replSet,
      setVersion: 1,
      secondary: false,
      primary: me,
      me,
      electionId: ELECTION_ID,
      lastWrite: {
        opTime: { ts: this.clusterTime, t: 1 },
        lastWriteDate: new Date(this.clusterTime.t * 1000),
        majorityOpTime: { ts: this.clusterTime, t: 1 },
        majorityWriteDate: new Date(this.clusterTime.t * 1000),
      },
      logicalSessionTimeoutMinutes: Math.max(1, Math.round(this.sessionTimeoutMs / 60_000)),
    };
  }

  /** Whether an awaitable hello names this process (so the reply may wait for a change). */
  isCurrentTopologyVersion(value: unknown): boolean {
    if (!this.replSet || !isPlainObject(value)) return false;
    const processId = value.processId;
    return processId instanceof ObjectId && processId.equals(this.processId);
  }

  /** Adds $clusterTime and operationTime to a reply, advancing the clock for writes. */
  stamp(reply: Document, commandName: string): Document {
    if (!this.replSet) return reply;
    if (WRITE_COMMANDS.has(commandName)) this.advance();
    reply.$clusterTime = {
      clusterTime: this.clusterTime,
      signature: { hash: new Binary(Buffer.alloc(20), 0), keyId: Long.ZERO },
    };
    reply.operationTime = this.clusterTime;
    return reply;
  }

  private advance(): void {
    const seconds = Math.floor(Date.now() / 1000);
    const current = this.clusterTime;
    this.clusterTime =
      seconds > current.t
        ? new Timestamp({ t: seconds, i: 1 })
        : new Timestamp({ t: current.t, i: current.i + 1 });
  }

  /**
   * Checks a command's transaction fields as mongod does and, for a retryable write, tells
   * whether it already ran (then its first reply is answered again).
   */
  retryableWrite(commandName: string, command: Document, nowMs: number): RetryableWrite | undefined {
    if (command.startTransaction !== undefined || command.autocommit !== undefined) {
      throw commandError('NotImplemented', 'mongo-emulator does not implement multi-document transactions');
    }
    if (command.txnNumber === undefined) return undefined;
    if (!this.replSet) {
      throw commandError(
        'IllegalOperation',
        'Transaction numbers are only allowed on a replica set member or mongos',
      );
    }
    if (!isPlainObject(command.lsid)) {
      throw commandError('InvalidOptions', 'Transaction number requires a session ID to also be specified');
    }
    if (!RETRYABLE_WRITE_COMMANDS.has(commandName)) {
      throw locationError(
        50768,
        `txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and ${commandName} is not a retryable write command.`,
      );
    }
    if (commandName === 'update' && Array.isArray(command.updates)) {
      if (command.updates.some((u: Document) => u?.multi === true)) {
        throw commandError('InvalidOptions', 'Cannot use (or request) retryable writes with multi=true');
      }
    }
    if (commandName === 'delete' && Array.isArray(command.deletes)) {
      if (command.deletes.some((d: Document) => isNumeric(d?.limit) && toNumber(d.limit) === 0)) {
        throw commandError('InvalidOptions', 'Cannot use (or request) retryable writes with limit=0');
      }
    }
    const txnNumber = toNumber(command.txnNumber);
    const session = formatValue(command.lsid.id);
    const record = this.retryRecords.get(session);
    if (record) {
      record.lastUse = nowMs;
      if (txnNumber < record.txnNumber) {
        throw commandError(
          'TransactionTooOld',
          `Retryable write with txnNumber ${txnNumber} is prohibited on session ${session} because a newer retryable write with txnNumber ${record.txnNumber} has already started on this session.`,
        );
      }
      if (txnNumber === record.txnNumber) {
        return { session, txnNumber, replay: structuredReplay(record.reply, commandName, command) };
      }
    }
    return { session, txnNumber };
  }

  /** Remembers a retryable write's result for its session. */
  recordRetryableWrite(write: RetryableWrite, reply: Document, nowMs: number): void {
    if (reply.ok !== 1) return;
    const { $clusterTime: _time, operationTime: _op, ...result } = reply;
    this.retryRecords.set(write.session, { txnNumber: write.txnNumber, reply: result, lastUse: nowMs });
  }

  /** Sessions idle past the session timeout are reaped, with their retryable-write history. */
  expireSessions(nowMs: number): void {
    for (const [session, record] of this.retryRecords) {
      if (nowMs - record.lastUse > this.sessionTimeoutMs) this.retryRecords.delete(session);
    }
  }

  get rememberedWrites(): number {
    return this.retryRecords.size;
  }
}

/** A retried write's reply: the first result, marked with the statements that were retried. */
function structuredReplay(first: Document, commandName: string, command: Document): Document {
  const reply: Document = { ...first };
  if (commandName === 'findAndModify' || commandName === 'findandmodify') {
    reply.retriedStmtId = 0;
  } else {
    const statements = command.documents ?? command.updates ?? command.deletes;
    const count = Array.isArray(statements) ? statements.length : 1;
    reply.retriedStmtIds = Array.from({ length: count }, (_, i) => i);
  }
  // ok stays last, as in mongod's replies.
  const { ok, ...rest } = reply;
  return { ...rest, ok };
}
