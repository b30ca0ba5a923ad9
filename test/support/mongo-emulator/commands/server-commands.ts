import { hostname } from 'node:os';
import type { Document } from 'bson';
import { commandError } from '../errors.js';
import { MAX_MESSAGE_SIZE_BYTES } from '../wire-protocol.js';
import type { CommandHandler } from './context.js';

/** The server the emulator presents itself as: MongoDB 7.0 (wire version 21), standalone. */
export const SERVER_VERSION = '7.0.0';
const MAX_WIRE_VERSION = 21;
const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
const startedAt = Date.now();

/**
 * hello / isMaster. A standalone deliberately leaves out `topologyVersion` (it would switch the
 * driver to streaming monitoring), `logicalSessionTimeoutMinutes` (without it drivers send no
 * sessions) and `compression` (no compressors are offered). In replica-set mode the reply is a
 * single-node set's primary: set fields, topologyVersion (awaitable hellos are streamed by the
 * connection, see connection.ts) and logical sessions.
 */
export const hello: CommandHandler = (command, context) => {
  const legacy = Object.keys(command)[0] !== 'hello';
  const set = context.topology.helloFields();
  const { logicalSessionTimeoutMinutes, topologyVersion, hosts, setName, setVersion, ...member } = set;
  const reply: Document = {};
  if (command.helloOk === true) reply.helloOk = true;
  if (topologyVersion) Object.assign(reply, { topologyVersion, hosts, setName, setVersion });
  reply[legacy ? 'ismaster' : 'isWritablePrimary'] = true;
  Object.assign(reply, member);
  Object.assign(reply, {
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
  });
  if (logicalSessionTimeoutMinutes !== undefined)
    reply.logicalSessionTimeoutMinutes = logicalSessionTimeoutMinutes;
  Object.assign(reply, {
    connectionId: context.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  });
  return reply;
};

export const ping: CommandHandler = () => ({ ok: 1 });

export const buildInfo: CommandHandler = () => ({
  version: SERVER_VERSION,
  gitVersion: 'mongo-emulator',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
  storageEngines: ['mongo-emulator'],
  javascriptEngine: 'none',
  ok: 1,
});

const PARAMETERS: Document = {
  featureCompatibilityVersion: { version: '7.0' },
  authenticationMechanisms: [],
};

export const getParameter: CommandHandler = (command, context) => {
  const all =
    command.getParameter === '*' ||
    (typeof command.getParameter === 'object' && command.getParameter?.allParameters);
  const reply: Document = {};
  for (const [name, value] of Object.entries({ ...PARAMETERS, ...context.topology.parameters })) {
    if (all || name in command) reply[name] = value;
  }
  if (Object.keys(reply).length === 0) throw commandError('InvalidOptions', 'no option found to get');
  reply.ok = 1;
  return reply;
};

export const serverStatus: CommandHandler = () => ({
  host: hostname(),
  version: SERVER_VERSION,
  process: 'mongod',
  pid: process.pid,
  uptime: Math.floor((Date.now() - startedAt) / 1000),
  uptimeMillis: Date.now() - startedAt,
  localTime: new Date(),
  ok: 1,
});

/** Sessions are not emulated; the driver only sends this fire-and-forget when closing. */
export const endSessions: CommandHandler = () => ({ ok: 1 });

export const connectionStatus: CommandHandler = () => ({
  authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] },
  ok: 1,
});
