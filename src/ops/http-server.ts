import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ReadinessCheck } from './readiness.js';

export interface OpsServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1: metrics name the bot's internals and should not face the internet. */
  host?: string;
  readiness: ReadinessCheck;
  registry: Registry;
  logger: Logger;
}

export interface OpsServer {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const ALLOWED_METHODS = 'GET, HEAD';

const text = (status: number, body: string): Reply => ({
  status,
  contentType: 'text/plain; charset=utf-8',
  body: `${body}\n`,
});
const json = (status: number, value: unknown): Reply => ({
  status,
  contentType: 'application/json; charset=utf-8',
  body: `${JSON.stringify(value)}\n`,
});

/**
 * Health, readiness and metrics over Node's own HTTP server: no framework for three read-only
 * paths. Answers never echo the request, so nothing a caller sends (or a secret) comes back.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { logger, registry } = options;
  const routes = new Map<string, () => Promise<Reply>>([
    // Liveness: answering at all is the signal; nothing else is checked, so a database outage
    // does not get the process restarted.
    ['/healthz', async () => json(200, { status: 'ok' })],
    [
      '/readyz',
      async () => {
        const report = await options.readiness();
        return json(report.ready ? 200 : 503, report);
      },
    ],
    [
      '/metrics',
      async () => ({ status: 200, contentType: registry.contentType, body: await registry.metrics() }),
    ],
  ]);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let reply: Reply;
    let allow: string | undefined;
    try {
      const route = routes.get(pathOf(request.url));
      if (route === undefined) reply = text(404, 'not found');
      else if (request.method !== 'GET' && request.method !== 'HEAD') {
        reply = text(405, 'method not allowed');
        allow = ALLOWED_METHODS;
      } else reply = await route();
    } catch (error) {
      logger.error({ err: error, path: pathOf(request.url) }, 'operations endpoint failed to answer');
      reply = text(500, 'internal error');
    }
    const body = Buffer.from(reply.body);
    response.writeHead(reply.status, {
      'content-type': reply.contentType,
      'content-length': body.length,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...(allow === undefined ? {} : { allow }),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'operations endpoint failed to answer');
      response.destroy();
    });
  });
  // Probes are tiny; a client that trickles its request must not hold a socket for long.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After start-up an 'error' without a listener would crash the process.
  server.on('error', (error) => logger.error({ err: error }, 'operations endpoint error'));

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url }, 'operations endpoint listening (/healthz, /readyz, /metrics)');

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** The path without query string; a request target that is not a path matches no route. */
function pathOf(target: string | undefined): string {
  if (target === undefined || !target.startsWith('/')) return '';
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}
