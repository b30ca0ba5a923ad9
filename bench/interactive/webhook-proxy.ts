/**
 * What sits in front of webhook replicas in production, reduced to its core: a round-robin HTTP
 * proxy (node:http) that hands each POST to the next replica in turn and passes its answer back;
 * and a poster that delivers updates the way Telegram does (JSON body, the secret header).
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Update } from 'grammy/types';

export interface Proxy {
  url: string;
  /** Requests forwarded to each replica, in the order of `ports`. */
  forwarded: number[];
  /** Answers that were not 2xx, and requests no replica could take. */
  failures: number;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(ports: number[]): Promise<Proxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const forwarded = ports.map(() => 0);
  let next = 0;
  const state = { failures: 0 };
  const server: Server = createServer((incoming, outgoing) => {
    const index = next;
    next = (next + 1) % ports.length;
    forwarded[index] = (forwarded[index] ?? 0) + 1;
    const upstream = request(
      {
        host: '127.0.0.1',
        port: ports[index],
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
        agent,
      },
      (answer) => {
        if ((answer.statusCode ?? 500) >= 300) state.failures += 1;
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => {
      state.failures += 1;
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end();
    });
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwarded,
    get failures() {
      return state.failures;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A private-chat `/start <payload>` message update as Telegram would post it. */
export function startUpdate(
  updateId: number,
  user: { id: number; first_name: string },
  text: string,
): Update {
  const command = text.split(' ')[0] ?? text;
  return {
    update_id: updateId,
    message: {
      message_id: 1,
      from: { id: user.id, is_bot: false, first_name: user.first_name },
      chat: { id: user.id, type: 'private', first_name: user.first_name },
      date: Math.floor(Date.now() / 1000),
      text,
      entities: [{ type: 'bot_command', offset: 0, length: command.length }],
    },
  };
}

/** Telegram's default max_connections: at most this many updates are posted at once. */
export const TELEGRAM_CONNECTIONS = 40;
const posterAgent = new Agent({ keepAlive: true, maxSockets: TELEGRAM_CONNECTIONS });

/** POSTs one update; resolves with the HTTP status (Telegram retries anything but 2xx). */
export function postUpdate(url: string, secret: string, update: Update): Promise<number> {
  const body = JSON.stringify(update);
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const call = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent: posterAgent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-telegram-bot-api-secret-token': secret,
        },
      },
      (answer) => {
        answer.resume();
        answer.on('end', () => resolve(answer.statusCode ?? 0));
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}
