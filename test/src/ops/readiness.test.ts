import { Bot } from 'grammy';
import { MongoClient } from 'mongodb';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, wrapClient } from '../../../db/client.js';
import { type OpsServer, startOpsServer } from '../../../src/ops/http-server.js';
import { createReadinessCheck, type ReadinessReport } from '../../../src/ops/readiness.js';
import { captureLogs } from '../../support/logs.js';
import { type MongoEmulator, startMongoEmulator } from '../../support/mongo-emulator/index.js';
import { testRuntime } from '../../support/runtime.js';
import { useFakeBotApi } from '../../support/use-fake-bot-api.js';
import { waitFor } from '../../support/wait.js';

/** Fires only on 29 February: the runtime starts but never ticks during the test. */
const LEAP_DAY = '0 0 29 2 *';

describe('readiness', () => {
  // A database of its own: stopping it must not break the other test files.
  let emulator: MongoEmulator;
  let database: Database;
  const fake = useFakeBotApi('file');

  beforeAll(async () => {
    emulator = await startMongoEmulator({ port: 0 });
    database = wrapClient(
      await new MongoClient(emulator.uri, { serverSelectionTimeoutMS: 1_000 }).connect(),
      'ops_readiness',
    );
  });
  afterAll(async () => {
    await database?.close();
    await emulator?.close();
    await fake?.stop();
  });

  async function readyz(server: OpsServer): Promise<{ status: number; body: ReadinessReport }> {
    const response = await fetch(`${server.url}/readyz`);
    return { status: response.status, body: (await response.json()) as ReadinessReport };
  }

  it('is ready only once getMe succeeded and the scheduler started, and follows a database outage', async () => {
    const logs = captureLogs([fake.token]);
    const bot = new Bot(fake.token, { client: { apiRoot: fake.apiRoot } });
    const runtime = testRuntime({
      db: database.db,
      jobs: [{ name: 'token-cleanup', schedule: LEAP_DAY, description: 'test', run: async () => ({}) }],
      timezone: 'UTC',
      logger: logs.logger,
    });
    const server = await startOpsServer({
      port: 0,
      readiness: createReadinessCheck({ database, botReady: () => bot.isInited(), runtime, timeoutMs: 500 }),
      registry: new Registry(),
      logger: logs.logger,
    });
    try {
      expect(await readyz(server)).toEqual({
        status: 503,
        body: {
          ready: false,
          checks: { mongodb: 'ok', telegram: 'getMe has not succeeded yet', scheduler: 'not started' },
        },
      });

      await bot.init();
      expect(await readyz(server)).toEqual({
        status: 503,
        body: { ready: false, checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'not started' } },
      });

      await runtime.start();
      expect(await readyz(server)).toEqual({
        status: 200,
        body: { ready: true, checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'ok' } },
      });

      await emulator.stop();
      const down = await waitFor(
        async () => {
          const answer = await readyz(server);
          return answer.status === 503 ? answer : undefined;
        },
        { message: '/readyz turning 503 during the outage' },
      );
      expect(down.body.ready).toBe(false);
      expect(down.body.checks.mongodb).toMatch(/^down: /);
      expect(down.body.checks).toMatchObject({ telegram: 'ok', scheduler: 'ok' });
      expect(JSON.stringify(down.body)).not.toContain(String(emulator.port));
      // Liveness does not depend on the database.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

      await emulator.start();
      await waitFor(async () => (await readyz(server)).status === 200, {
        timeoutMs: 20_000,
        message: '/readyz back to 200 after the database returned',
      });

      await runtime.stop();
      expect(await readyz(server)).toMatchObject({
        status: 503,
        body: { checks: { scheduler: 'not started' } },
      });
    } finally {
      await runtime.stop();
      await server.close();
      if (!emulator.running) await emulator.start();
    }
  });

  it('answers within its timeout when the database hangs, and shares one ping between concurrent probes', async () => {
    let pings = 0;
    const check = createReadinessCheck({
      database: {
        ping: () => {
          pings++;
          return new Promise<boolean>(() => {});
        },
      },
      botReady: () => true,
      runtime: { isStarted: true },
      timeoutMs: 30,
    });
    const reports = await Promise.all([check(), check(), check()]);
    expect(pings).toBe(1);
    for (const report of reports) {
      expect(report).toEqual({
        ready: false,
        checks: { mongodb: 'down: no answer to ping within 30 ms', telegram: 'ok', scheduler: 'ok' },
      });
    }
  });

  it('names a failed or throwing ping without its message, and a throwing botReady as not ready', async () => {
    const failing = createReadinessCheck({
      database: { ping: async () => false },
      botReady: () => true,
      runtime: { isStarted: true },
    });
    expect((await failing()).checks.mongodb).toBe('down: ping failed');

    const throwing = createReadinessCheck({
      database: {
        ping: async () => {
          throw new TypeError('mongodb://admin:hunter2@db.internal');
        },
      },
      botReady: () => {
        throw new Error('not yet');
      },
    });
    expect(await throwing()).toEqual({
      ready: false,
      checks: {
        mongodb: 'down: ping failed (TypeError)',
        telegram: 'getMe has not succeeded yet',
        scheduler: 'disabled',
      },
    });
  });

  it('passes the scheduler check when the schedulers are disabled', async () => {
    const check = createReadinessCheck({ database: { ping: async () => true }, botReady: () => true });
    expect(await check()).toEqual({
      ready: true,
      checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'disabled' },
    });
  });
});
