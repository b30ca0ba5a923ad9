import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobControl } from '../../bot/job-control.js';
import type { Repositories } from '../../db/repositories/index.js';
import type { Logger } from '../logger.js';
import { type Action, type CancelOutcome, registerApi } from './api.js';
import {
  authenticate,
  type Caller,
  closeSession,
  cookieOptions,
  LOGIN_ATTEMPTS,
  LOGIN_WINDOW_MS,
  openSession,
  type SessionOptions,
} from './auth.js';
import { Credentials } from './credentials.js';
import { apiError, codeForStatus } from './errors.js';
import { SECURITY_HEADERS } from './headers.js';
import { loginPage } from './pages.js';

export interface DashboardSettings {
  adminToken: string;
  readonlyToken?: string | undefined;
  sessionHours: number;
  insecureCookie: boolean;
}

export interface DashboardOptions {
  settings: DashboardSettings;
  jobs: JobControl;
  repos: Repositories;
  cancelBroadcast(id: string, by: string): Promise<CancelOutcome>;
  timezone: string;
  clock: () => Date;
  logger: Logger;
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const CHANGES = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

type WithCaller = FastifyRequest & { caller: Caller };

/**
 * The dashboard (/admin) and its JSON API (/api/v1), as a Fastify plugin for the HTTP_PORT server.
 * Closed by default: every page but the login form and every API route needs a session cookie
 * or a bearer token; changes need the admin token and, from a browser, a CSRF token.
 */
export function dashboardPlugin(options: DashboardOptions) {
  const { settings, logger } = options;
  const credentials = new Credentials(settings.adminToken, settings.readonlyToken);
  const session: SessionOptions = {
    credentials,
    sessions: options.repos.dashboardSessions,
    sessionHours: settings.sessionHours,
    insecureCookie: settings.insecureCookie,
    clock: options.clock,
  };
  const log = logger.child({ component: 'dashboard' });

  const audit = async (request: FastifyRequest, action: Action & { credential?: string; actor?: string }) => {
    const caller = (request as Partial<WithCaller>).caller;
    const entry = {
      at: options.clock(),
      actor: action.actor ?? caller?.actor ?? 'anonymous',
      credential: action.credential ?? caller?.label ?? 'none',
      action: action.action,
      ...(action.target === undefined ? {} : { target: action.target }),
      ...(action.details === undefined ? {} : { details: action.details }),
      outcome: action.outcome,
      ...(action.message === undefined ? {} : { message: action.message }),
      address: request.ip,
    };
    log.info(
      {
        actor: entry.actor,
        credential: entry.credential,
        action: entry.action,
        target: entry.target,
        outcome: entry.outcome,
        address: entry.address,
      },
      `dashboard: ${entry.actor} ${entry.action}${entry.target ? ` ${entry.target}` : ''}: ${entry.outcome}${action.message ? ` (${action.message})` : ''}`,
    );
    try {
      await options.repos.audit.record(entry);
    } catch (error) {
      log.error({ err: error, action: entry.action }, 'could not write the audit entry');
    }
  };

  return async function dashboard(app: FastifyInstance): Promise<void> {
    await app.register(fastifyCookie, { secret: credentials.cookieSecret });
    await app.register(fastifyFormbody);
    await app.register(fastifyCsrf, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: 'dashboard_csrf',
      cookieOpts: { ...cookieOptions(settings), signed: true },
    });
    await app.register(fastifyRateLimit, { global: false });
    // Only failed attempts count (a peek before, an increment after a failure), per address.
    const failedLogins = app.createRateLimit({
      max: LOGIN_ATTEMPTS,
      timeWindow: LOGIN_WINDOW_MS,
      keyGenerator: (request) => request.ip,
    });
    const lockedOut = async (request: FastifyRequest) => {
      const state = await failedLogins(request, { increment: false });
      return !state.isAllowed && state.remaining === 0;
    };
    const countFailure = async (request: FastifyRequest) => {
      await failedLogins(request);
    };
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Telegram maintenance bot: operations API',
          version: '1',
          description:
            'Jobs, run history, deletions and broadcasts. Authenticate with `Authorization: Bearer <DASHBOARD_TOKEN>` (or the read-only token for GET requests).',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      hideUntagged: true,
    });
    await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/admin/assets/', index: false });

    app.addHook('onSend', async (_request, reply, payload) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
      return payload;
    });

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
      if (status >= 500)
        log.error({ err: error, path: request.routeOptions.url }, 'dashboard request failed');
      const message =
        error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN'
          ? 'missing or invalid CSRF token: reload the page'
          : error.validation
            ? `${error.message}`
            : status >= 500
              ? 'internal error'
              : error.message;
      if (request.url.startsWith('/api/')) return apiError(reply, codeForStatus(status), message);
      return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
    });

    // --- pages -------------------------------------------------------------------------------
    const showLogin = (reply: FastifyReply, status: number, message?: string) =>
      reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(loginPage({ csrfToken: reply.generateCsrf(), ...(message ? { message } : {}) }));

    app.get('/admin/login', async (_request, reply) => showLogin(reply, 200));

    app.post<{ Body: { token?: string } }>(
      '/admin/login',
      { preHandler: app.csrfProtection },
      async (request, reply) => {
        if (await lockedOut(request)) {
          log.warn({ address: request.ip }, 'dashboard login refused: too many failed attempts');
          return showLogin(
            reply,
            429,
            `Too many failed sign-ins from your address; try again in ${LOGIN_WINDOW_MS / 60_000} minutes.`,
          );
        }
        const token = typeof request.body?.token === 'string' ? request.body.token : '';
        const credential = credentials.match(token);
        if (!credential) {
          await countFailure(request);
          await audit(request, { action: 'login', outcome: 'refused', message: 'wrong token' });
          return showLogin(reply, 401, 'That token is not right.');
        }
        await openSession(reply, credential, request.ip, session);
        await audit(request, {
          action: 'login',
          outcome: 'done',
          actor: `dashboard:${credential.role}`,
          credential: credential.label,
        });
        return reply.redirect('/admin', 303);
      },
    );

    app.post('/admin/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
      await closeSession(request, reply, session);
      return reply.redirect('/admin/login', 303);
    });

    app.get('/admin', async (request, reply) => {
      const auth = await authenticate(request, session);
      if (!auth.ok) return reply.redirect('/admin/login', 303);
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    });
    app.get('/admin/', async (_request, reply) => reply.redirect('/admin', 301));

    // --- API ---------------------------------------------------------------------------------
    await app.register(
      async (api) => {
        api.addHook('onRequest', async (request, reply) => {
          if (request.headers.authorization !== undefined && (await lockedOut(request))) {
            return apiError(
              reply,
              'too_many_requests',
              'too many failed attempts from this address; try again later',
            );
          }
          const auth = await authenticate(request, session);
          if (!auth.ok) {
            if (auth.reason === 'bad-token') await countFailure(request);
            return apiError(
              reply,
              'unauthorized',
              auth.reason === 'bad-token'
                ? 'the bearer token is not valid'
                : auth.reason === 'expired'
                  ? 'the session has expired; sign in again at /admin/login'
                  : 'sign in at /admin/login, or send Authorization: Bearer <token>',
            );
          }
          (request as WithCaller).caller = auth.caller;
        });
        api.addHook('preHandler', async (request, reply) => {
          if (!CHANGES.has(request.method)) return;
          const caller = (request as WithCaller).caller;
          // A bearer token is never sent by a browser on its own, so only cookie sessions need CSRF.
          if (caller.via === 'session') {
            await new Promise<void>((resolve, reject) => {
              app.csrfProtection.call(app, request, reply, (error?: Error) =>
                error ? reject(error) : resolve(),
              );
            });
          }
          if (caller.role !== 'admin') {
            const message =
              'this session is read-only (DASHBOARD_READONLY_TOKEN); sign in with DASHBOARD_TOKEN to act';
            await audit(request, {
              action: `${request.method} ${request.routeOptions.url}`,
              outcome: 'refused',
              message,
            });
            return apiError(reply, 'forbidden', message);
          }
        });
        api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
        registerApi(api, { ...options, logger: log, audit });
        api.setNotFoundHandler((request, reply) =>
          apiError(reply, 'not_found', `no such endpoint: ${request.method} ${request.url.split('?')[0]}`),
        );
      },
      { prefix: '/api/v1' },
    );
  };
}

export type { CancelOutcome } from './api.js';
