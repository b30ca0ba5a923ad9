import { Agent, request } from 'node:http';

/**
 * The HTTP path between one simulated bot instance and the fake Bot API, handed to grammY as its
 * `fetch` (ApiClientOptions.fetch), so the instance's Telegram traffic can be killed and stalled
 * like its database traffic:
 *
 * - `kill()`: SIGKILL. Requests already sent stay sent (the fake handles them: a message copied
 *   just before the crash exists in the chat) but their answers are lost; nothing new goes out.
 * - `stall()` / `resume()`: SIGSTOP / SIGCONT. New requests wait before being sent, answers wait
 *   before being delivered; on resume everything held moves on in order.
 *
 * `hooks` see every request just before it goes out and every answer just before the instance gets
 * it: the chaos schedule uses them to kill an instance at an exact point of a
 * batch (before call n is sent, or after call n was answered by the fake but before the instance
 * learnt the answer).
 */
export class TelegramLink {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private stalled = false;
  private killed = false;
  private readonly held: Array<() => void> = [];
  private readonly pendingRejects = new Set<(error: Error) => void>();
  private sent = 0;
  /** Told of every request just before it is sent and every answer just before it is delivered. */
  readonly hooks = new Set<{
    onRequest(n: number, method: string): void;
    onAnswer(n: number, method: string): void;
  }>();

  get isKilled(): boolean {
    return this.killed;
  }

  get requestsSent(): number {
    return this.sent;
  }

  stall(): void {
    if (!this.killed) this.stalled = true;
  }

  resume(): void {
    if (!this.stalled) return;
    this.stalled = false;
    for (const next of this.held.splice(0)) next();
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.stalled = false;
    this.held.length = 0;
    // The instance is gone: whatever it was waiting for ends with a network error (its code may
    // unwind, but it can reach neither Telegram nor the database any more).
    for (const reject of [...this.pendingRejects]) reject(new Error('chaos: the instance was killed'));
    this.pendingRejects.clear();
    this.agent.destroy();
  }

  /** grammY's `fetch`: only what grammY's client uses (POST with a JSON body, `.json()`). */
  readonly fetch = ((url: string, init: FetchInit = {}) =>
    this.call(String(url), init)) as unknown as typeof fetch;

  private call(
    url: string,
    init: FetchInit,
  ): Promise<{ ok: boolean; status: number; json(): Promise<unknown> }> {
    return new Promise((resolve, reject) => {
      if (this.killed) {
        reject(new Error('chaos: the instance was killed'));
        return;
      }
      const method = url.slice(url.lastIndexOf('/') + 1);
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        this.pendingRejects.delete(fail);
        reject(error);
      };
      this.pendingRejects.add(fail);
      const signal = init.signal;
      const send = () => {
        if (settled || this.killed) return;
        if (signal?.aborted) {
          fail(abortError());
          return;
        }
        const n = ++this.sent;
        for (const hook of [...this.hooks]) hook.onRequest(n, method);
        if (this.killed) return;
        const req = request(
          url,
          {
            method: init.method ?? 'POST',
            headers: init.headers as Record<string, string>,
            agent: this.agent,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', (error) => fail(error));
            res.on('end', () => {
              const deliver = () => {
                if (settled || this.killed) return;
                for (const hook of [...this.hooks]) hook.onAnswer(n, method);
                if (this.killed) return;
                settled = true;
                this.pendingRejects.delete(fail);
                const text = Buffer.concat(chunks).toString('utf8');
                const status = res.statusCode ?? 0;
                resolve({ ok: status >= 200 && status < 300, status, json: async () => JSON.parse(text) });
              };
              if (this.stalled) this.held.push(deliver);
              else deliver();
            });
          },
        );
        req.on('error', (error) => fail(error));
        const onAbort = () => {
          req.destroy();
          fail(abortError());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        req.on('close', () => signal?.removeEventListener('abort', onAbort));
        req.end(typeof init.body === 'string' ? init.body : undefined);
      };
      if (this.stalled) this.held.push(send);
      else send();
    });
  }
}

interface FetchInit {
  method?: string;
  headers?: unknown;
  body?: unknown;
  signal?: {
    aborted: boolean;
    addEventListener(type: 'abort', listener: () => void, options?: unknown): void;
    removeEventListener(type: 'abort', listener: () => void): void;
  };
}

function abortError(): Error {
  const error = new Error('The operation was aborted');
  error.name = 'AbortError';
  return error;
}
