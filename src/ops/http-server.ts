import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ReadinessCheck } from './readiness.js';

export interface OpsRoutes {
  readiness: ReadinessCheck;
  registry: Registry;
}

/** Where Telegram posts updates, and what to do with a well-formed one. */
export interface WebhookRoute {
  /** The pathname of WEBHOOK_URL. */
  path: string;
  /** WEBHOOK_SECRET, which Telegram sends in X-Telegram-Bot-Api-Secret-Token. */
  secret: string;
  /**
   * Takes an update whose update_id is an integer; resolves once it is safely recorded (then the
   * answer is 200, and Telegram forgets it). A rejection answers 500, so Telegram sends it again.
   */
  receive(update: { update_id: number } & Record<string, unknown>): Promise<unknown>;
  /** False while stopping: the answer is then 503 and Telegram tries again (another replica, say). */
  accepting?: () => boolean;
}

export interface HttpServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger: Logger;
  /** /healthz, /readyz and /metrics. */
  ops?: OpsRoutes;
  webhook?: WebhookRoute;
  /** More routes on the same server (the dashboard), registered as an encapsulated plugin. */
  plugins?: ReadonlyArray<(app: FastifyInstance) => Promise<void>>;
  /** Proxies trusted for X-Forwarded-For (HTTP_TRUSTED_PROXIES). */
  trustedProxies?: string | undefined;
}

export interface OpsServerOptions extends OpsRoutes {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1: metrics name the bot's internals and should not face the internet. */
  host?: string;
  logger: Logger;
}

export interface HttpServer {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

/** Back-compatible name: a server with the operations routes only. */
export type OpsServer = HttpServer;

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const OPS_METHODS = 'GET, HEAD';
const OTHER_METHODS = ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

const text = (reply: FastifyReply, status: number, body: string) =>
  reply.code(status).type(TEXT).send(`${body}\n`);
const json = (reply: FastifyReply, status: number, value: unknown) =>
  reply
    .code(status)
    .type(JSON_TYPE)
    .send(`${JSON.stringify(value)}\n`);

/** Health, readiness and metrics only (HTTP_PORT). */
export function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { readiness, registry, ...rest } = options;
  return startHttpServer({ ...rest, ops: { readiness, registry } });
}

/**
 * The process's HTTP server (Fastify): the operations routes, Telegram's webhook, or both when
 * WEBHOOK_PORT equals HTTP_PORT. Answers never echo the request, so nothing a caller sends (a
 * secret, a token in a path) comes back; request logging is off for the same reason.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { logger } = options;
  const app = Fastify({
    logger: false,
    // Probes and updates are small; a client that trickles its request must not hold a socket.
    requestTimeout: 10_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    bodyLimit: 1_048_576,
    trustProxy: options.trustedProxies ?? false,
    // Unknown fields in a request are an error to report, not something to drop silently.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.server.headersTimeout = 5_000;
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  app.setNotFoundHandler((_request, reply) => text(reply, 404, 'not found'));
  // Fastify's own refusals (oversized body, bad header) keep their status but say nothing more.
  app.setErrorHandler((error: { statusCode?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500)
      logger.error({ err: error, path: request.routeOptions.url }, 'HTTP endpoint failed to answer');
    return text(reply, status, status >= 500 ? 'internal error' : 'bad request');
  });

  if (options.ops) registerOpsRoutes(app, options.ops, logger);
  if (options.webhook) registerWebhookRoute(app, options.webhook, logger);
  for (const plugin of options.plugins ?? []) await app.register(plugin);

  try {
    await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  // After start-up an 'error' without a listener would crash the process.
  app.server.on('error', (error) => logger.error({ err: error }, 'HTTP server error'));

  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const serving = [
    ...(options.ops ? ['/healthz', '/readyz', '/metrics'] : []),
    ...(options.webhook ? ['the webhook'] : []),
    ...(options.plugins?.length ? ['/admin', '/api/v1'] : []),
  ];
  logger.info({ url }, `HTTP server listening (${serving.join(', ')})`);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= app.close();
      return closing;
    },
  };
}

function registerOpsRoutes(app: FastifyInstance, ops: OpsRoutes, logger: Logger): void {
  const routes: Record<string, (reply: FastifyReply) => Promise<FastifyReply>> = {
    // Liveness: answering at all is the signal; nothing else is checked, so a database outage
    // does not get the process restarted.
    '/healthz': async (reply) => json(reply, 200, { status: 'ok' }),
    '/readyz': async (reply) => {
      const report = await ops.readiness();
      return json(reply, report.ready ? 200 : 503, report);
    },
    '/metrics': async (reply) =>
      reply
        .code(200)
        .type(ops.registry.contentType)
        .send(await ops.registry.metrics()),
  };
  for (const [path, answer] of Object.entries(routes)) {
    // HEAD is answered like GET without the body (Fastify's exposed HEAD routes).
    app.get(path, async (_request, reply) => {
      try {
        return await answer(reply);
      } catch (error) {
        logger.error({ err: error, path }, 'operations endpoint failed to answer');
        return text(reply, 500, 'internal error');
      }
    });
    app.route({
      method: [...OTHER_METHODS],
      url: path,
      handler: async (_request, reply) => text(reply.header('allow', OPS_METHODS), 405, 'method not allowed'),
    });
  }
}

function registerWebhookRoute(app: FastifyInstance, webhook: WebhookRoute, logger: Logger): void {
  const expected = digest(webhook.secret);
  app.route({
    method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: webhook.path,
    handler: async (_request, reply) => text(reply.header('allow', 'POST'), 405, 'method not allowed'),
  });
  app.register(async (scope) => {
    // The body is checked here, not by Fastify's parsers, so every malformed update is one 400.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    // Before the body is read: a caller without the secret learns nothing and changes nothing.
    scope.addHook('onRequest', async (request, reply) => {
      const given = request.headers[SECRET_HEADER];
      if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
        return text(reply, 401, 'unauthorized');
      }
      if (webhook.accepting && !webhook.accepting()) return text(reply, 503, 'stopping');
    });
    scope.post(webhook.path, async (request, reply) => {
      const update = parseUpdate(request.body);
      if (update === undefined) return text(reply, 400, 'bad request: not an update');
      try {
        await webhook.receive(update);
      } catch (error) {
        logger.error(
          { err: error, updateId: update.update_id },
          'could not record an update; Telegram will send it again',
        );
        return text(reply, 500, 'internal error');
      }
      return text(reply, 200, 'ok');
    });
  });
}

/** Hashing first makes the comparison constant-time whatever the lengths. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function parseUpdate(body: unknown): ({ update_id: number } & Record<string, unknown>) | undefined {
  if (typeof body !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const updateId = (value as { update_id?: unknown }).update_id;
  if (typeof updateId !== 'number' || !Number.isSafeInteger(updateId) || updateId < 0) return undefined;
  return value as { update_id: number } & Record<string, unknown>;
}
