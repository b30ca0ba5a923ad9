import { BSON, type DeserializeOptions, type Document } from 'bson';

/*
 * MongoDB wire protocol framing: the handshake arrives as a legacy OP_QUERY and is answered
 * with OP_REPLY; everything after it is OP_MSG.
 * https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/
 */

export const OpCode = {
  REPLY: 1,
  QUERY: 2004,
  COMPRESSED: 2012,
  MSG: 2013,
} as const;

const HEADER_SIZE = 16;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;

const FLAG_CHECKSUM_PRESENT = 1;
const FLAG_MORE_TO_COME = 2;
const FLAG_EXHAUST_ALLOWED = 1 << 16;

/**
 * Numbers come back as plain JS numbers (int64 only when beyond 2^53) so mingo can compare
 * them; Dates, ObjectIds and binary values keep their BSON classes.
 */
const DESERIALIZE_OPTIONS: DeserializeOptions = {
  promoteLongs: true,
  promoteValues: true,
  promoteBuffers: false,
  bsonRegExp: false,
};

export class WireProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireProtocolError';
  }
}

export interface WireRequest {
  requestId: number;
  opCode: number;
  /** The command body, with OP_MSG document sequences merged in as array fields. */
  command: Document;
  /** From `$db` (OP_MSG) or the `<db>.$cmd` namespace (OP_QUERY). */
  db: string;
  /** OP_MSG moreToCome: the client does not wait for, and must not get, a reply. */
  moreToCome: boolean;
  /** OP_MSG exhaustAllowed: the client accepts a stream of replies (awaitable hello). */
  exhaustAllowed: boolean;
}

/** Reassembles whole messages from TCP chunks, which may split or batch messages freely. */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= 4) {
      const length = this.peekLength();
      if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE_BYTES) {
        throw new WireProtocolError(`invalid message length ${length}`);
      }
      if (this.buffered < length) break;
      messages.push(this.take(length));
    }
    return messages;
  }

  private peekLength(): number {
    if ((this.chunks[0] as Buffer).length < 4) this.coalesce();
    return (this.chunks[0] as Buffer).readInt32LE(0);
  }

  private coalesce(): void {
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }

  private take(length: number): Buffer {
    // Concatenate only once a whole message is buffered; doing it per chunk would be quadratic.
    if ((this.chunks[0] as Buffer).length < length) this.coalesce();
    const first = this.chunks[0] as Buffer;
    const message = first.subarray(0, length);
    if (first.length === length) this.chunks.shift();
    else this.chunks[0] = first.subarray(length);
    this.buffered -= length;
    return message;
  }
}

function readCString(buffer: Buffer, offset: number): [string, number] {
  const end = buffer.indexOf(0, offset);
  if (end < 0) throw new WireProtocolError('unterminated cstring');
  return [buffer.toString('utf8', offset, end), end + 1];
}

function readDocument(buffer: Buffer, offset: number): [Document, number] {
  if (offset + 4 > buffer.length) throw new WireProtocolError('truncated document');
  const size = buffer.readInt32LE(offset);
  if (size < 5 || offset + size > buffer.length) throw new WireProtocolError('invalid document size');
  return [BSON.deserialize(buffer.subarray(offset, offset + size), DESERIALIZE_OPTIONS), offset + size];
}

export function decodeMessage(message: Buffer): WireRequest {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  switch (opCode) {
    case OpCode.MSG:
      return decodeOpMsg(message, requestId);
    case OpCode.QUERY:
      return decodeOpQuery(message, requestId);
    case OpCode.COMPRESSED:
      // Only sent when the handshake negotiated a compressor, which the emulator never offers.
      throw new WireProtocolError('OP_COMPRESSED is not supported');
    default:
      throw new WireProtocolError(`unsupported opCode ${opCode}`);
  }
}

function decodeOpMsg(message: Buffer, requestId: number): WireRequest {
  const flags = message.readUInt32LE(HEADER_SIZE);
  const end = message.length - (flags & FLAG_CHECKSUM_PRESENT ? 4 : 0);
  let offset = HEADER_SIZE + 4;
  let body: Document | undefined;
  const sequences: [string, Document[]][] = [];
  while (offset < end) {
    const kind = message[offset];
    offset += 1;
    if (kind === 0) {
      [body, offset] = readDocument(message, offset);
    } else if (kind === 1) {
      const sectionEnd = offset + message.readInt32LE(offset);
      const [identifier, start] = readCString(message, offset + 4);
      let position = start;
      const documents: Document[] = [];
      while (position < sectionEnd) {
        let doc: Document;
        [doc, position] = readDocument(message, position);
        documents.push(doc);
      }
      sequences.push([identifier, documents]);
      offset = sectionEnd;
    } else {
      throw new WireProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new WireProtocolError('OP_MSG without a body section');
  for (const [identifier, documents] of sequences) body[identifier] = documents;
  const db = typeof body.$db === 'string' ? body.$db : '';
  return {
    requestId,
    opCode: OpCode.MSG,
    command: body,
    db,
    moreToCome: (flags & FLAG_MORE_TO_COME) !== 0,
    exhaustAllowed: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
  };
}

function decodeOpQuery(message: Buffer, requestId: number): WireRequest {
  const [namespace, afterName] = readCString(message, HEADER_SIZE + 4);
  // numberToSkip and numberToReturn are meaningless for commands.
  const [query] = readDocument(message, afterName + 8);
  if (!namespace.endsWith('.$cmd')) {
    throw new WireProtocolError(`legacy OP_QUERY on ${namespace} is not supported`);
  }
  // Legacy clients wrap the command when they add read preferences.
  const command = query.$query !== undefined && typeof query.$query === 'object' ? query.$query : query;
  return {
    requestId,
    opCode: OpCode.QUERY,
    command,
    db: namespace.slice(0, -'.$cmd'.length),
    moreToCome: false,
    exhaustAllowed: false,
  };
}

let nextResponseId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const buffer = Buffer.allocUnsafe(HEADER_SIZE);
  buffer.writeInt32LE(length, 0);
  buffer.writeInt32LE(nextResponseId++ & 0x7fffffff, 4);
  buffer.writeInt32LE(responseTo, 8);
  buffer.writeInt32LE(opCode, 12);
  return buffer;
}

/**
 * `moreToCome` (OP_MSG only) marks one reply of an exhaust stream: more replies follow without
 * further requests.
 */
export function encodeReply(request: WireRequest, reply: Document, moreToCome = false): Buffer {
  const body = BSON.serialize(reply);
  if (request.opCode === OpCode.QUERY) {
    // OP_REPLY: responseFlags, cursorID (int64), startingFrom, numberReturned.
    const fields = Buffer.alloc(20);
    fields.writeInt32LE(1, 16);
    return Buffer.concat([
      header(HEADER_SIZE + 20 + body.length, request.requestId, OpCode.REPLY),
      fields,
      body,
    ]);
  }
  // OP_MSG: flagBits then one kind-0 section.
  const fields = Buffer.alloc(5);
  if (moreToCome) fields.writeUInt32LE(FLAG_MORE_TO_COME, 0);
  return Buffer.concat([header(HEADER_SIZE + 5 + body.length, request.requestId, OpCode.MSG), fields, body]);
}
