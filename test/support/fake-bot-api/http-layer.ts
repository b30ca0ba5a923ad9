import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BotApiError, badRequest, DESCRIPTIONS } from './api-error.js';
import { parseMultipart, type UploadedPart } from './multipart.js';
import { paramsFromJsonBody, paramsFromSearch, type RawParams } from './request-params.js';

/** Large enough for a control-API seed of 100,000 chats. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * api.telegram.org takes uploads of at most 50 MB from bots and answers a bigger request
 * `413 Request Entity Too Large` (the text tdlib/telegram-bot-api issue #720 shows). The fake
 * applies the limit to the whole multipart body, which is a few hundred bytes more than the file.
 */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

export interface BotApiRequest {
  method: string;
  raw: RawParams;
  /** The parameters as sent, for call records (files as `{ file_name, size }`). */
  sent: Record<string, unknown>;
  /** The file parts of a multipart/form-data request, by part name. */
  files?: ReadonlyMap<string, UploadedPart>;
  /** Aborted when the client goes away before the answer. */
  signal: AbortSignal;
}

export interface HttpReply {
  status: number;
  body: unknown;
}

export interface HttpRoutes {
  /** The token the fake accepts; it never appears in any answer or log. */
  token: string;
  botApi(request: BotApiRequest): Promise<HttpReply>;
  /** Requests under /__control (a prefix the Bot API never uses), or undefined when disabled. */
  control?(method: string, path: string, search: URLSearchParams, body: unknown): Promise<HttpReply>;
}

export const CONTROL_PREFIX = '/__control';

export async function listen(
  routes: HttpRoutes,
  port: number,
  host: string,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    route(routes, req, res).catch((error: unknown) => {
      // A bug in the fake must surface loudly in the test, not as a hung request.
      const message = error instanceof Error ? error.message : String(error);
      writeJson(res, 500, {
        ok: false,
        error_code: 500,
        description: `Internal Server Error: fake Bot API: ${message}`,
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function route(routes: HttpRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fake-bot-api');
  if (
    routes.control !== undefined &&
    (url.pathname === CONTROL_PREFIX || url.pathname.startsWith(`${CONTROL_PREFIX}/`))
  ) {
    const body = await readJsonBody(req);
    if (body instanceof Error) return writeJson(res, 400, { ok: false, error: body.message });
    const reply = await routes.control(
      req.method ?? 'GET',
      url.pathname.slice(CONTROL_PREFIX.length),
      url.searchParams,
      body,
    );
    return writeJson(res, reply.status, reply.body);
  }

  const match = /^\/bot([^/]*)\/([^/]+)$/.exec(url.pathname);
  const token = match?.[1] ?? '';
  // api.telegram.org only routes /bot<id>:<secret>/...; anything else is its front end's 404.
  if (match === null || !token.includes(':'))
    return writeError(res, new BotApiError(404, DESCRIPTIONS.notFound));
  if (token !== routes.token) {
    const malformed = token.startsWith('0') || token.length > 80;
    return writeError(
      res,
      new BotApiError(401, malformed ? DESCRIPTIONS.invalidToken : DESCRIPTIONS.unauthorized),
    );
  }

  const parsed = await readBotApiParams(req, url.searchParams);
  if (parsed instanceof BotApiError) return writeError(res, parsed);
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const reply = await routes.botApi({
    method: decodeURIComponent(match[2] ?? ''),
    raw: parsed.raw,
    sent: parsed.sent,
    ...(parsed.files === undefined ? {} : { files: parsed.files }),
    signal: controller.signal,
  });
  writeJson(res, reply.status, reply.body);
}

async function readBotApiParams(
  req: IncomingMessage,
  search: URLSearchParams,
): Promise<
  { raw: RawParams; sent: Record<string, unknown>; files?: ReadonlyMap<string, UploadedPart> } | BotApiError
> {
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  const multipart = contentType.startsWith('multipart/form-data');
  const tooLarge = new BotApiError(413, DESCRIPTIONS.requestEntityTooLarge);
  if (multipart && Number(req.headers['content-length'] ?? 0) > MAX_UPLOAD_BYTES) {
    req.resume();
    return tooLarge;
  }
  const body = await readBody(req, multipart ? MAX_UPLOAD_BYTES : MAX_BODY_BYTES);
  if (body instanceof Error)
    return body.message === BODY_TOO_LARGE && multipart ? tooLarge : badRequest(body.message);
  const fromQuery = paramsFromSearch(search);
  if (multipart) {
    // The boundary is case-sensitive: read it from the header as sent.
    const multipart = parseMultipart(body, req.headers['content-type'] ?? '');
    if (multipart instanceof BotApiError) return multipart;
    const sent: Record<string, unknown> = { ...fromQuery, ...multipart.fields };
    for (const file of multipart.files.values())
      sent[file.name] = `<file ${file.filename}, ${file.bytes.length} bytes>`;
    return { raw: { ...fromQuery, ...multipart.fields }, sent, files: multipart.files };
  }
  if (body.length === 0) return { raw: fromQuery, sent: { ...fromQuery } };
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const fromForm = paramsFromSearch(new URLSearchParams(body.toString('utf8')));
    return { raw: { ...fromQuery, ...fromForm }, sent: { ...fromQuery, ...fromForm } };
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return badRequest("can't parse JSON encoded request");
  }
  const sent =
    json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : {};
  return { raw: { ...fromQuery, ...paramsFromJsonBody(json) }, sent: { ...fromQuery, ...sent } };
}

const BODY_TOO_LARGE = 'request body is too large';

function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | Error> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? new Error(BODY_TOO_LARGE) : Buffer.concat(chunks)));
    req.on('error', (error) => resolve(error));
  });
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  if (body instanceof Error) return body;
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return new Error('control API bodies must be JSON');
  }
}

function writeError(res: ServerResponse, error: BotApiError): void {
  writeJson(res, error.errorCode, error.toBody());
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
