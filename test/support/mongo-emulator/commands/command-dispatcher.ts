import type { Document } from 'bson';
import { isPlainObject } from '../bson-values.js';
import type { CursorRegistry } from '../cursor-registry.js';
import { commandError, MongoCommandError, notImplemented, toMongoCommandError } from '../errors.js';
import type { Store } from '../store.js';
import type { ServerTopology } from '../topology.js';
import {
  collMod,
  create,
  createIndexes,
  drop,
  dropDatabase,
  dropIndexes,
  listCollections,
  listDatabases,
  listIndexes,
} from './catalog-commands.js';
import type { CommandContext, CommandHandler } from './context.js';
import { findAndModify } from './find-and-modify.js';
import { aggregate, count, distinct, find, getMore, killCursors } from './read-commands.js';
import {
  buildInfo,
  connectionStatus,
  endSessions,
  getParameter,
  hello,
  ping,
  serverStatus,
} from './server-commands.js';
import { deleteCommand, insert, update } from './write-commands.js';

/** Command names are case-sensitive in mongod, apart from these historical aliases. */
const HANDLERS: Record<string, CommandHandler> = {
  hello,
  isMaster: hello,
  ismaster: hello,
  ping,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  serverStatus,
  endSessions,
  connectionStatus,
  insert,
  update,
  delete: deleteCommand,
  find,
  getMore,
  killCursors,
  count,
  distinct,
  aggregate,
  findAndModify,
  findandmodify: findAndModify,
  create,
  drop,
  dropDatabase,
  listCollections,
  listDatabases,
  createIndexes,
  listIndexes,
  dropIndexes,
  deleteIndexes: dropIndexes,
  collMod,
};

/** Commands that exist in mongod but whose emulation would be a lie; they fail loudly instead. */
const KNOWN_UNSUPPORTED = new Set([
  'explain',
  'commitTransaction',
  'abortTransaction',
  'startSession',
  'renameCollection',
  'mapReduce',
  'bulkWrite',
  'saslStart',
  'saslContinue',
  'authenticate',
]);

export interface DispatcherDependencies {
  store: Store;
  cursors: CursorRegistry;
  /** The server clock (the emulator's `now` option); read once per command. */
  now: () => Date;
  topology: ServerTopology;
}

export class CommandDispatcher {
  private readonly counts = new Map<string, number>();

  constructor(private readonly dependencies: DispatcherDependencies) {}

  /** Runs one command and returns the reply document; never throws. */
  execute(command: Document, db: string, connectionId: number): Document {
    const name = Object.keys(command)[0] ?? '';
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const { topology } = this.dependencies;
    return topology.stamp(this.run(name, command, db, connectionId), name);
  }

  private run(name: string, command: Document, db: string, connectionId: number): Document {
    try {
      const handler = HANDLERS[name];
      if (!handler) {
        if (KNOWN_UNSUPPORTED.has(name)) throw notImplemented(`the '${name}' command`);
        throw commandError('CommandNotFound', `no such command: '${name}'`);
      }
      if (!db) throw commandError('InvalidNamespace', "Invalid database name: ''");
      rejectUnsupportedOptions(command);
      const { store, cursors, now, topology } = this.dependencies;
      const nowMs = Date.now();
      const retryable = topology.retryableWrite(name, command, nowMs);
      if (retryable?.replay) return retryable.replay;
      const context: CommandContext = { db, connectionId, store, cursors, now: now(), topology };
      cursors.sessionBound = command.lsid !== undefined;
      const reply = handler(command, context);
      if (retryable) topology.recordRetryableWrite(retryable, reply, nowMs);
      return reply;
    } catch (error) {
      const failure = toMongoCommandError(error);
      if (failure.code === 1 && !(error instanceof MongoCommandError)) {
        // An InternalError from a plain exception is an emulator bug; make it visible.
        console.error('[mongo-emulator] internal error while running', name, error);
      }
      return failure.toCommandReply();
    } finally {
      this.dependencies.cursors.sessionBound = false;
    }
  }

  /** Whether an awaitable hello's topologyVersion is this server's current one. */
  isCurrentTopologyVersion(value: unknown): boolean {
    return this.dependencies.topology.isCurrentTopologyVersion(value);
  }

  countsByName(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** Options whose silent omission would change results; better to fail than to mislead. */
function rejectUnsupportedOptions(command: Document): void {
  const collation = command.collation;
  if (collation !== undefined && !(isPlainObject(collation) && collation.locale === 'simple')) {
    throw notImplemented('collations');
  }
  if (command.let !== undefined) throw notImplemented("'let' variables");
}
