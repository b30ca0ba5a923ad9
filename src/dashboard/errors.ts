import type { FastifyReply } from 'fastify';

export type ApiErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_many_requests'
  | 'internal';

const STATUS: Record<ApiErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_many_requests: 429,
  internal: 500,
};

/** Every API error is `{error, message}` with its status; the message says what to do. */
export function apiError(reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  return reply.code(STATUS[code]).type('application/json; charset=utf-8').send({ error: code, message });
}

export function codeForStatus(status: number): ApiErrorCode {
  const found = (Object.entries(STATUS) as [ApiErrorCode, number][]).find(([, value]) => value === status);
  return found ? found[0] : status >= 500 ? 'internal' : 'bad_request';
}
