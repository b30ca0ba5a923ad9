import type { Socket } from 'node:net';
import type { Document } from 'bson';
import type { CommandDispatcher } from './commands/command-dispatcher.js';
import { commandError } from './errors.js';
import { decodeMessage, encodeReply, MessageFramer, type WireRequest } from './wire-protocol.js';

/**
 * One client socket. Commands run synchronously in arrival order, which makes every command
 * atomic with respect to the others, as a single-node server with document-level locking
 * appears to a client.
 */
export class ClientConnection {
  private readonly framer = new MessageFramer();
  /** A streamed (exhaust) hello waiting for its next reply. */
  private awaiting: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly dispatcher: CommandDispatcher,
    readonly id: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // Clients resetting their sockets (e.g. on MongoClient.close()) is routine.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => clearTimeout(this.awaiting));
  }

  private receive(chunk: Buffer): void {
    let messages: Buffer[];
    let request: WireRequest | undefined;
    try {
      messages = this.framer.push(chunk);
      for (const message of messages) {
        if (this.socket.destroyed) return;
        request = decodeMessage(message);
        if (this.awaitable(request)) {
          this.streamHello(request);
          continue;
        }
        const reply = this.dispatcher.execute(request.command, request.db, this.id);
        if (!request.moreToCome) this.socket.write(this.encode(request, reply));
      }
    } catch (error) {
      // A malformed frame leaves the stream unsynchronised; mongod drops such connections too.
      console.error(`[mongo-emulator] closing connection ${this.id}:`, (error as Error).message);
      this.socket.destroy();
    }
  }

  /**
   * An awaitable hello (topologyVersion + maxAwaitTimeMS) naming this server's current topology:
   * mongod answers when the topology changes or maxAwaitTimeMS passes. A single node's topology
   * never changes, so the answer comes after maxAwaitTimeMS; with exhaustAllowed it is one of a
   * stream (moreToCome), one reply every maxAwaitTimeMS without further requests, as the
   * driver's streaming monitor expects.
   */
  private awaitable(request: WireRequest): boolean {
    const { command } = request;
    const name = Object.keys(command)[0];
    if (name !== 'hello' && name !== 'isMaster' && name !== 'ismaster') return false;
    if (typeof command.maxAwaitTimeMS !== 'number' || command.maxAwaitTimeMS < 0) return false;
    return this.dispatcher.isCurrentTopologyVersion(command.topologyVersion);
  }

  private streamHello(request: WireRequest): void {
    clearTimeout(this.awaiting);
    const wait = request.command.maxAwaitTimeMS as number;
    const answer = () => {
      this.awaiting = undefined;
      if (this.socket.destroyed) return;
      const reply = this.dispatcher.execute(request.command, request.db, this.id);
      this.socket.write(this.encode(request, reply, request.exhaustAllowed));
      if (request.exhaustAllowed) this.awaiting = setTimeout(answer, wait).unref();
    };
    this.awaiting = setTimeout(answer, wait).unref();
  }

  private encode(request: WireRequest, reply: Document, moreToCome = false): Buffer {
    try {
      return encodeReply(request, reply, moreToCome);
    } catch (error) {
      return encodeReply(
        request,
        commandError(
          'InternalError',
          `could not serialize reply: ${(error as Error).message}`,
        ).toCommandReply(),
      );
    }
  }

  close(): void {
    clearTimeout(this.awaiting);
    this.socket.destroy();
  }
}
