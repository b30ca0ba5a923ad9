import type { TestProject } from 'vitest/node';
import { startLocalMongod } from '../../src/local-mongo.js';
import { maskUri } from '../../src/redact.js';
import { testTopology, topologyOptions } from './mongo-topology.js';

/**
 * Chooses the database every test file talks to, in this order:
 *   1. MONGODB_URI from the environment (a real server you point the tests at);
 *   2. a mongod started by mongodb-memory-server, when a binary is available or downloadable;
 *   3. the project's wire-level emulator (always available, and what CI uses offline).
 * TEST_MONGO_BACKEND=uri|memory-server|emulator forces one choice. TEST_MONGO_TOPOLOGY=replset runs
 * the emulator as a single-node replica set (the URI then carries `replicaSet=`); a mongod from
 * mongodb-memory-server is a standalone, so that topology skips it.
 */

type Backend = { kind: 'uri' | 'memory-server' | 'emulator'; uri: string; stop(): Promise<void> };

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUri: string;
    mongoBackend: Backend['kind'];
  }
}

async function chooseBackend(): Promise<Backend> {
  const forced = process.env.TEST_MONGO_BACKEND;
  const uri = process.env.MONGODB_URI;
  if ((forced === undefined || forced === 'uri') && uri) {
    return { kind: 'uri', uri, stop: async () => {} };
  }
  if (forced === 'uri') throw new Error('TEST_MONGO_BACKEND=uri needs MONGODB_URI to be set');

  const replset = testTopology() === 'replset';
  if (forced === 'memory-server' && replset) {
    throw new Error(
      'TEST_MONGO_TOPOLOGY=replset runs on the emulator or MONGODB_URI, not on mongodb-memory-server',
    );
  }
  if ((forced === undefined && !replset) || forced === 'memory-server') {
    try {
      const mongod = await startLocalMongod();
      return { kind: 'memory-server', uri: mongod.uri, stop: () => mongod.stop() };
    } catch (error) {
      if (forced === 'memory-server') throw error;
      console.log(`[test-db] mongodb-memory-server unavailable: ${(error as Error).message}`);
    }
  }

  const { startMongoEmulator } = await import('./mongo-emulator/index.js');
  const emulator = await startMongoEmulator({ port: 0, ...topologyOptions() });
  return { kind: 'emulator', uri: emulator.uri, stop: () => emulator.close() };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const backend = await chooseBackend();
  console.log(`[test-db] backend: ${backend.kind}, ${testTopology()} (${maskUri(backend.uri)})`);
  project.provide('mongoUri', backend.uri);
  project.provide('mongoBackend', backend.kind);
  return () => backend.stop();
}
