/*
 * An in-process MongoDB 7.0 standalone (or single-node replica set, option `replSet`), spoken to over the real wire protocol, so application
 * code under test uses the official driver unchanged.
 *
 *   wire-protocol.ts / connection.ts     framing, OP_QUERY handshake, OP_MSG
 *   commands/*                           one handler per command, mongod's replies and errors
 *   store.ts / collection.ts             databases, documents by canonical _id
 *   index-spec.ts / secondary-index.ts   index catalog rules, hash-based unique and lookup maps
 *   query-planner.ts / query-executor.ts candidate selection, mingo matching, lazy results
 *   update-*.ts / upsert.ts              mongod's update language
 *   cursor-registry.ts / ttl-monitor.ts  getMore state, TTL expiry
 *
 * Anything it cannot emulate faithfully fails with NotImplemented (code 238) rather than
 * answering approximately.
 */
import { createServer, type Server } from 'node:net';
import { CommandDispatcher } from './commands/command-dispatcher.js';
import { ClientConnection } from './connection.js';
import { CURSOR_IDLE_TIMEOUT_MS, CursorRegistry } from './cursor-registry.js';
import { Store } from './store.js';
import { SESSION_TIMEOUT_MS, ServerTopology } from './topology.js';
import { deleteExpiredDocuments } from './ttl-monitor.js';

/** mongod's ttlMonitorSleepSecs default: the TTL monitor wakes every 60 seconds. */
export const TTL_MONITOR_SLEEP_MS = 60_000;

export interface MongoEmulatorOptions {
  /** 0 = random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How often the TTL monitor runs; default 60 000 ms, mongod's ttlMonitorSleepSecs (60). */
  ttlSweepIntervalMs?: number;
  /**
   * Idle time after which a cursor opened outside a session is closed (its next getMore answers
   * CursorNotFound); default 600 000 ms, mongod's cursorTimeoutMillis.
   */
  cursorTimeoutMs?: number;
  /**
   * Idle time after which a logical session expires, closing its cursors and forgetting its
   * retryable writes; default 30 minutes, mongod's localLogicalSessionTimeoutMinutes. Only a
   * replica set advertises sessions to drivers.
   */
  sessionTimeoutMs?: number;
  /** Run as the only member (the primary) of a replica set with this name; default standalone. */
  replSet?: string;
  /**
   * Server clock for TTL expiry, $currentDate and $$NOW; default the system clock. Read once per
   * command, so everything one command evaluates sees the same instant.
   */
  now?: () => Date;
}

export interface MongoEmulator {
  /**
   * e.g. mongodb://127.0.0.1:PORT/ (stable across stop/start); in replica-set mode with
   * `?replicaSet=<name>`, so the driver discovers the primary through hello.
   */
  readonly uri: string;
  /** The replica set name, or undefined for a standalone. */
  readonly replSet: string | undefined;
  readonly port: number;
  readonly running: boolean;
  /** Stop listening and drop every client connection (simulates a MongoDB outage). Data is kept. */
  stop(): Promise<void>;
  /** Listen again on the same port with the same data. */
  start(): Promise<void>;
  /** Stop for good and free everything. */
  close(): Promise<void>;
  /** Counts of commands received by name, for tests. */
  commandCounts(): Record<string, number>;
}

class MongoEmulatorServer implements MongoEmulator {
  private readonly store = new Store();
  private readonly cursors: CursorRegistry;
  private readonly topology: ServerTopology;
  private readonly dispatcher: CommandDispatcher;
  private readonly connections = new Set<ClientConnection>();
  private readonly host: string;
  private readonly now: () => Date;
  private readonly ttlSweepIntervalMs: number;
  private server: Server | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  private readonly cursorTimeoutMs: number;
  private boundPort: number;
  private nextConnectionId = 1;
  private closed = false;

  constructor(options: MongoEmulatorOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.boundPort = options.port ?? 0;
    this.now = options.now ?? (() => new Date());
    this.ttlSweepIntervalMs = options.ttlSweepIntervalMs ?? TTL_MONITOR_SLEEP_MS;
    this.cursorTimeoutMs = options.cursorTimeoutMs ?? CURSOR_IDLE_TIMEOUT_MS;
    const sessionTimeoutMs = options.sessionTimeoutMs ?? SESSION_TIMEOUT_MS;
    this.cursors = new CursorRegistry({ idleMs: this.cursorTimeoutMs, sessionIdleMs: sessionTimeoutMs });
    this.topology = new ServerTopology(options.replSet, () => this.address, sessionTimeoutMs);
    // As mongod reports them; the emulator's settings are in ms, so seconds may be fractional.
    this.topology.parameters = {
      ttlMonitorSleepSecs: this.ttlSweepIntervalMs / 1000,
      cursorTimeoutMillis: this.cursorTimeoutMs,
      localLogicalSessionTimeoutMinutes: sessionTimeoutMs / 60_000,
    };
    this.dispatcher = new CommandDispatcher({
      store: this.store,
      cursors: this.cursors,
      now: this.now,
      topology: this.topology,
    });
  }

  get replSet(): string | undefined {
    return this.topology.replSet;
  }

  /** host:port as hello's `me` and `hosts` name it. */
  private get address(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${host}:${this.boundPort}`;
  }

  get uri(): string {
    const query = this.topology.replSet ? `?replicaSet=${encodeURIComponent(this.topology.replSet)}` : '';
    return `mongodb://${this.address}/${query}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('mongo-emulator: start() after close()');
    if (this.server) return;
    const server = createServer((socket) => {
      const connection = new ClientConnection(socket, this.dispatcher, this.nextConnectionId++);
      this.connections.add(connection);
      socket.on('close', () => this.connections.delete(connection));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') this.boundPort = address.port;
    this.server = server;
    this.ttlTimer = setInterval(() => this.sweep(), this.ttlSweepIntervalMs);
    this.ttlTimer.unref();
    // mongod's clientCursorMonitorFrequencySecs is 4; a getMore also checks its cursor's idle time.
    this.cursorTimer = setInterval(() => this.reapIdle(), Math.min(4_000, this.cursorTimeoutMs));
    this.cursorTimer.unref();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    clearInterval(this.ttlTimer);
    this.ttlTimer = undefined;
    clearInterval(this.cursorTimer);
    this.cursorTimer = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.connections) connection.close();
    this.connections.clear();
    // A restarted mongod has no open cursors either.
    this.cursors.clear();
    await closed;
  }

  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
  }

  commandCounts(): Record<string, number> {
    return this.dispatcher.countsByName();
  }

  private sweep(): void {
    try {
      deleteExpiredDocuments(this.store, this.now());
    } catch (error) {
      console.error('[mongo-emulator] TTL sweep failed:', error);
    }
  }

  private reapIdle(): void {
    const nowMs = Date.now();
    this.cursors.expireIdle(nowMs);
    this.topology.expireSessions(nowMs);
  }
}

export async function startMongoEmulator(options: MongoEmulatorOptions = {}): Promise<MongoEmulator> {
  const emulator = new MongoEmulatorServer(options);
  await emulator.start();
  return emulator;
}
