import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardSessionsRepository } from '../../db/repositories/dashboard-sessions.js';
import { type Credential, type Credentials, type Role, sha256 } from './credentials.js';

export const SESSION_COOKIE = 'dashboard_session';

/** Who is asking, once authenticated. */
export interface Caller extends Credential {
  via: 'session' | 'bearer';
  /** For logs and the audit trail: `dashboard:admin`, `api:viewer`. */
  actor: string;
}

export interface SessionOptions {
  credentials: Credentials;
  sessions: DashboardSessionsRepository;
  sessionHours: number;
  insecureCookie: boolean;
  clock: () => Date;
}

/** Failed logins (form or bearer) from one address before it must wait. */
export const LOGIN_ATTEMPTS = 5;
export const LOGIN_WINDOW_MS = 15 * 60_000;

export type Authentication =
  | { ok: true; caller: Caller }
  | { ok: false; reason: 'none' | 'bad-token' | 'expired' };

/**
 * Bearer token first (API clients), then the session cookie (browsers). A bearer request never
 * falls back to a cookie: a wrong token is a wrong token.
 */
export async function authenticate(
  request: FastifyRequest,
  options: SessionOptions,
): Promise<Authentication> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const credential = match?.[1] === undefined ? undefined : options.credentials.match(match[1]);
    if (!credential) return { ok: false, reason: 'bad-token' };
    return { ok: true, caller: { ...credential, via: 'bearer', actor: `api:${credential.role}` } };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie === undefined || cookie === '') return { ok: false, reason: 'none' };
  const session = await options.sessions.findLive(sessionKey(cookie), options.clock());
  if (!session || !options.credentials.isCurrent(session.credential)) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    caller: {
      role: session.role,
      label: session.credential,
      via: 'session',
      actor: `dashboard:${session.role}`,
    },
  };
}

/** Opens a session for a matched token and sets its cookie. */
export async function openSession(
  reply: FastifyReply,
  credential: Credential,
  address: string,
  options: SessionOptions,
): Promise<void> {
  const id = randomBytes(32).toString('base64url');
  const now = options.clock();
  const maxAgeSeconds = options.sessionHours * 3_600;
  await options.sessions.create({
    _id: sessionKey(id),
    role: credential.role,
    credential: credential.label,
    created_at: now,
    expires_at: new Date(now.getTime() + maxAgeSeconds * 1_000),
    address,
  });
  reply.setCookie(SESSION_COOKIE, id, { ...cookieOptions(options), maxAge: maxAgeSeconds });
}

export async function closeSession(
  request: FastifyRequest,
  reply: FastifyReply,
  options: SessionOptions,
): Promise<void> {
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie) await options.sessions.remove(sessionKey(cookie));
  reply.clearCookie(SESSION_COOKIE, cookieOptions(options));
}

export function cookieOptions(options: Pick<SessionOptions, 'insecureCookie'>) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: !options.insecureCookie,
  };
}

/** Only the cookie's hash is stored: a copy of the database opens no session. */
function sessionKey(cookie: string): string {
  return sha256(cookie).toString('hex');
}

export function canAct(role: Role): boolean {
  return role === 'admin';
}
