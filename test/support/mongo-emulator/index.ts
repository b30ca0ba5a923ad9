/*
 * An in-process MongoDB 7.0 standalone, spoken to over the real wire protocol, so application
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
import { CursorRegistry } from './cursor-registry.js';
import { Store } from './store.js';
import { deleteExpiredDocuments } from './ttl-monitor.js';

export interface MongoEmulatorOptions {
  /** 0 = random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How often the TTL monitor runs; default 1000 ms (mongod: 60 s). */
  ttlSweepIntervalMs?: number;
  /**
   * Server clock for TTL expiry, $currentDate and $$NOW; default the system clock. Read once per
   * command, so everything one command evaluates sees the same instant.
   */
  now?: () => Date;
}

export interface MongoEmulator {
  /** e.g. mongodb://127.0.0.1:PORT/ (stable across stop/start) */
  readonly uri: string;
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
  private readonly cursors = new CursorRegistry();
  private readonly dispatcher: CommandDispatcher;
  private readonly connections = new Set<ClientConnection>();
  private readonly host: string;
  private readonly now: () => Date;
  private readonly ttlSweepIntervalMs: number;
  private server: Server | undefined;
  private ttlTimer: NodeJS.Timeout | undefined;
  private boundPort: number;
  private nextConnectionId = 1;
  private closed = false;

  constructor(options: MongoEmulatorOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.boundPort = options.port ?? 0;
    this.now = options.now ?? (() => new Date());
    this.ttlSweepIntervalMs = options.ttlSweepIntervalMs ?? 1000;
    this.dispatcher = new CommandDispatcher({ store: this.store, cursors: this.cursors, now: this.now });
  }

  get uri(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `mongodb://${host}:${this.boundPort}/`;
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
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    clearInterval(this.ttlTimer);
    this.ttlTimer = undefined;
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
      this.cursors.expireIdle(Date.now());
    } catch (error) {
      console.error('[mongo-emulator] TTL sweep failed:', error);
    }
  }
}

export async function startMongoEmulator(options: MongoEmulatorOptions = {}): Promise<MongoEmulator> {
  const emulator = new MongoEmulatorServer(options);
  await emulator.start();
  return emulator;
}
