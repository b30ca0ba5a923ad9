import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between one simulated bot instance and the chaos-owned MongoDB emulator. Every byte
 * the instance's driver exchanges with the database passes here, so the test can treat the
 * instance the way the operating system would treat its process:
 *
 * - `kill()`: SIGKILL. Client-side sockets are destroyed, nothing the instance writes afterwards
 *   reaches the server, new connections are refused. Bytes already forwarded reach the server (the
 *   upstream side is half-closed after them, as the kernel would deliver what was written).
 * - `stall()` / `resume()`: SIGSTOP / SIGCONT. No byte moves in either direction (new connections
 *   are accepted but wait too); on resume everything held goes through in order. The instance's
 *   code keeps running meanwhile, but none of its database traffic (heartbeats included) leaves it,
 *   which is what the other instances and the server can observe of a stopped process.
 *
 * A MongoDB outage is the emulator's own stop()/start(): upstream sockets close and new upstream
 * connections are refused, which the proxy passes on as closed or refused client connections.
 */
export class DbProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private stalled = false;
  private killed = false;
  private boundPort = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<DbProxy> {
    const proxy = new DbProxy(target);
    const server = createServer((socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') proxy.boundPort = address.port;
    proxy.server = server;
    return proxy;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.boundPort}/`;
  }

  get isKilled(): boolean {
    return this.killed;
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  stall(): void {
    if (this.killed) return;
    this.stalled = true;
  }

  resume(): void {
    if (!this.stalled) return;
    this.stalled = false;
    for (const pair of [...this.pairs]) pair.flush();
  }

  /** SIGKILL: what was forwarded stays forwarded, nothing else ever passes. */
  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.stalled = false;
    for (const pair of [...this.pairs]) pair.kill();
    this.pairs.clear();
    this.closeServer();
  }

  /** Frees everything (end of a run). */
  close(): void {
    this.kill();
  }

  private closeServer(): void {
    const server = this.server;
    this.server = undefined;
    server?.close();
  }

  private accept(client: Socket): void {
    if (this.killed) {
      client.destroy();
      return;
    }
    const pair = new Pair(
      client,
      this.target,
      () => this.stalled,
      () => this.pairs.delete(pair),
    );
    this.pairs.add(pair);
  }
}

type Held = { kind: 'data'; chunk: Buffer } | { kind: 'end' };

/** One client connection and its upstream connection, with what a stall holds back each way. */
class Pair {
  private readonly upstream: Socket;
  private readonly toServer: Held[] = [];
  private readonly toClient: Held[] = [];
  private upstreamConnected = false;
  private done = false;

  constructor(
    private readonly client: Socket,
    target: { host: string; port: number },
    private readonly isStalled: () => boolean,
    private readonly onDone: () => void,
  ) {
    client.setNoDelay(true);
    this.upstream = createConnection({ host: target.host, port: target.port });
    this.upstream.setNoDelay(true);
    this.upstream.on('connect', () => {
      this.upstreamConnected = true;
      this.flush();
    });
    client.on('data', (chunk: Buffer) => this.pass(this.toServer, { kind: 'data', chunk }));
    this.upstream.on('data', (chunk: Buffer) => this.pass(this.toClient, { kind: 'data', chunk }));
    client.on('end', () => this.pass(this.toServer, { kind: 'end' }));
    this.upstream.on('end', () => this.pass(this.toClient, { kind: 'end' }));
    // A refused or reset upstream (MongoDB down) reaches the client as a closed connection, once
    // whatever was already received has been handed over (after a stall, if one holds it).
    this.upstream.on('error', () => this.pass(this.toClient, { kind: 'end' }));
    this.upstream.on('close', () => this.pass(this.toClient, { kind: 'end' }));
    client.on('error', () => this.kill());
    client.on('close', () => this.kill());
  }

  flush(): void {
    if (this.done || this.isStalled()) return;
    if (this.upstreamConnected) this.drain(this.toServer, this.upstream);
    this.drain(this.toClient, this.client);
  }

  /** SIGKILL of the instance: forwarded bytes stay delivered, nothing more goes either way. */
  kill(): void {
    if (this.done) return;
    this.done = true;
    this.toServer.length = 0;
    this.toClient.length = 0;
    this.client.destroy();
    // end(), not destroy(): bytes already written upstream still reach the server, as the kernel
    // would deliver them after the process died.
    if (this.upstreamConnected) this.upstream.end();
    else this.upstream.destroy();
    this.onDone();
  }

  private pass(queue: Held[], item: Held): void {
    if (this.done) return;
    queue.push(item);
    this.flush();
  }

  private drain(queue: Held[], to: Socket): void {
    while (queue.length > 0 && !this.done) {
      const item = queue.shift() as Held;
      if (item.kind === 'data') {
        if (!to.destroyed) to.write(item.chunk);
      } else if (to === this.client) {
        // The server side closed: the client sees its connection closed.
        this.kill();
        return;
      } else {
        to.end();
      }
    }
  }
}
