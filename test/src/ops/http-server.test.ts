import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpsServer, startOpsServer } from '../../../src/ops/http-server.js';
import type { ReadinessReport } from '../../../src/ops/readiness.js';
import { captureLogs } from '../../support/logs.js';

const READY: ReadinessReport = { ready: true, checks: { mongodb: 'ok', telegram: 'ok', scheduler: 'ok' } };

describe('operations HTTP endpoint', () => {
  const servers: OpsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function start(readiness: () => Promise<ReadinessReport> = async () => READY) {
    const registry = new Registry();
    const counter = new Counter({ name: 'test_things_total', help: 'things', registers: [registry] });
    const logs = captureLogs();
    const server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      readiness,
      registry,
      logger: logs.logger,
    });
    servers.push(server);
    return { server, counter, logs };
  }

  it('answers /healthz while the process is up, query string or not', async () => {
    const { server } = await start();
    for (const path of ['/healthz', '/healthz?verbose=1']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ status: 'ok' });
    }
  });

  it('answers /readyz with 200 when ready and 503 with the failing checks otherwise', async () => {
    let report = READY;
    const { server } = await start(async () => report);
    let response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(READY);

    report = {
      ready: false,
      checks: { mongodb: 'down: ping failed', telegram: 'ok', scheduler: 'not started' },
    };
    response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual(report);
  });

  it("serves the registry's metrics in Prometheus' text format", async () => {
    const { server, counter } = await start();
    counter.inc(3);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await response.text()).toContain('test_things_total 3');
  });

  it('answers 404 on any other path, without echoing it', async () => {
    const { server } = await start();
    for (const path of [
      '/',
      '/nope',
      '/healthz/extra',
      '/metricsx',
      '/readyz/',
      '/bot123456:SECRET-in-path',
    ]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      const body = await response.text();
      expect(body).toBe('not found\n');
    }
    expect((await fetch(`${server.url}/nope`, { method: 'POST', body: 'x' })).status).toBe(404);
  });

  it('answers 405 with an Allow header for other methods on known paths', async () => {
    const { server } = await start();
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const response = await fetch(`${server.url}${path}`, { method });
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get('allow')).toBe('GET, HEAD');
        await response.arrayBuffer();
      }
    }
  });

  it('answers HEAD like GET without a body', async () => {
    const { server } = await start();
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const response = await fetch(`${server.url}${path}`, { method: 'HEAD' });
      expect(response.status, path).toBe(200);
      expect(await response.text()).toBe('');
    }
  });

  it('answers 500 without details when a check throws, logs it, and keeps serving', async () => {
    const { server, logs } = await start(async () => {
      throw new Error('boom with mongodb://user:hunter2@db.example:27017');
    });
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('internal error\n');
    expect(logs.messages()).toContain('operations endpoint failed to answer');
    expect(JSON.stringify(logs.records())).not.toContain('hunter2');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes (twice is fine) and then refuses connections', async () => {
    const { server } = await start();
    await Promise.all([server.close(), server.close()]);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('fails to start on a port already in use', async () => {
    const { server } = await start();
    const port = Number(new URL(server.url).port);
    await expect(
      startOpsServer({
        port,
        host: '127.0.0.1',
        readiness: async () => READY,
        registry: new Registry(),
        logger: captureLogs().logger,
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
