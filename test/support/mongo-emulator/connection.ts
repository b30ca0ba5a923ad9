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

  constructor(
    private readonly socket: Socket,
    private readonly dispatcher: CommandDispatcher,
    readonly id: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // Clients resetting their sockets (e.g. on MongoClient.close()) is routine.
    socket.on('error', () => socket.destroy());
  }

  private receive(chunk: Buffer): void {
    let messages: Buffer[];
    let request: WireRequest | undefined;
    try {
      messages = this.framer.push(chunk);
      for (const message of messages) {
        if (this.socket.destroyed) return;
        request = decodeMessage(message);
        const reply = this.dispatcher.execute(request.command, request.db, this.id);
        if (!request.moreToCome) this.socket.write(this.encode(request, reply));
      }
    } catch (error) {
      // A malformed frame leaves the stream unsynchronised; mongod drops such connections too.
      console.error(`[mongo-emulator] closing connection ${this.id}:`, (error as Error).message);
      this.socket.destroy();
    }
  }

  private encode(request: WireRequest, reply: Document): Buffer {
    try {
      return encodeReply(request, reply);
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
    this.socket.destroy();
  }
}
