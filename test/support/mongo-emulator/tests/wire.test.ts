import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { BSON, type Document } from 'bson';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './harness.js';

// Protocol-level behaviour the driver relies on, exercised with hand-built frames.

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MORE_TO_COME = 2;

let server: TestServer;
let socket: Socket;
let received: Buffer = Buffer.alloc(0);
let nextRequestId = 1;

function header(length: number, requestId: number, opCode: number): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeInt32LE(length, 0);
  buffer.writeInt32LE(requestId, 4);
  buffer.writeInt32LE(0, 8);
  buffer.writeInt32LE(opCode, 12);
  return buffer;
}

function opMsg(body: Document, options: { flags?: number; sequence?: [string, Document[]] } = {}): Buffer {
  const sections: Buffer[] = [Buffer.from([0]), Buffer.from(BSON.serialize(body))];
  if (options.sequence) {
    const [identifier, docs] = options.sequence;
    const payload = Buffer.concat([
      Buffer.from(`${identifier}\0`),
      ...docs.map((d) => Buffer.from(BSON.serialize(d))),
    ]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(4 + payload.length);
    sections.push(Buffer.from([1]), size, payload);
  }
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(options.flags ?? 0);
  const rest = Buffer.concat([flags, ...sections]);
  return Buffer.concat([header(16 + rest.length, nextRequestId++, OP_MSG), rest]);
}

function opQuery(namespace: string, query: Document): Buffer {
  const rest = Buffer.concat([
    Buffer.alloc(4),
    Buffer.from(`${namespace}\0`),
    Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from(BSON.serialize(query)),
  ]);
  return Buffer.concat([header(16 + rest.length, nextRequestId++, OP_QUERY), rest]);
}

interface Reply {
  opCode: number;
  responseTo: number;
  doc: Document;
}

function parseReply(frame: Buffer): Reply {
  const opCode = frame.readInt32LE(12);
  const responseTo = frame.readInt32LE(8);
  // OP_REPLY documents start after 20 bytes of fields; OP_MSG after flagBits and a kind byte.
  const docStart = opCode === OP_REPLY ? 36 : 21;
  return { opCode, responseTo, doc: BSON.deserialize(frame.subarray(docStart)) };
}

/** Waits for `count` complete replies. */
async function replies(count: number): Promise<Reply[]> {
  const frames: Buffer[] = [];
  for (;;) {
    while (received.length >= 4 && received.length >= received.readInt32LE(0)) {
      const length = received.readInt32LE(0);
      frames.push(received.subarray(0, length));
      received = received.subarray(length);
    }
    if (frames.length >= count) return frames.map(parseReply);
    await once(socket, 'data');
  }
}

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  const url = new URL(server.uri);
  received = Buffer.alloc(0);
  socket = connect(Number(url.port), url.hostname);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  await once(socket, 'connect');
});

afterEach(() => {
  socket.destroy();
});

describe('wire protocol', () => {
  it('answers a legacy OP_QUERY handshake with OP_REPLY', async () => {
    socket.write(opQuery('admin.$cmd', { isMaster: 1, helloOk: true }));
    const [reply] = await replies(1);
    expect(reply?.opCode).toBe(OP_REPLY);
    expect(reply?.doc).toMatchObject({ ismaster: true, ok: 1 });
    expect(reply?.doc.maxWireVersion).toBeGreaterThanOrEqual(9);
  });

  it('reassembles a message split across many TCP writes', async () => {
    const frame = opMsg({ ping: 1, $db: 'admin' });
    for (let i = 0; i < frame.length; i += 3) {
      socket.write(frame.subarray(i, i + 3));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const [reply] = await replies(1);
    expect(reply?.opCode).toBe(OP_MSG);
    expect(reply?.doc.ok).toBe(1);
  });

  it('answers several messages arriving in one chunk, in order', async () => {
    const first = opMsg({ ping: 1, $db: 'admin' });
    const second = opMsg({ definitelyNotACommand: 1, $db: 'admin' });
    socket.write(Buffer.concat([first, second]));
    const [a, b] = await replies(2);
    expect(a?.responseTo).toBe(first.readInt32LE(4));
    expect(a?.doc.ok).toBe(1);
    expect(b?.responseTo).toBe(second.readInt32LE(4));
    expect(b?.doc).toMatchObject({ ok: 0, code: 59 });
  });

  it('accepts document sequences and stays silent for moreToCome', async () => {
    const db = server.freshDb();
    socket.write(
      opMsg(
        { insert: 'seq', ordered: true, writeConcern: { w: 0 }, $db: db.databaseName },
        { flags: MORE_TO_COME, sequence: ['documents', [{ _id: 1 }, { _id: 2 }]] },
      ),
    );
    const probe = opMsg({ count: 'seq', $db: db.databaseName });
    socket.write(probe);
    const [reply] = await replies(1);
    expect(reply?.responseTo).toBe(probe.readInt32LE(4));
    expect(reply?.doc).toMatchObject({ n: 2, ok: 1 });
  });

  it('drops a connection that sends a nonsensical frame', async () => {
    const closed = once(socket, 'close');
    socket.write(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    await closed;
    expect(socket.destroyed).toBe(true);
  });
});
