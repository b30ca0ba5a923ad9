/**
 * Child processes and the fake Bot API's control API, shared by the job scenarios (run.ts) and the
 * many-users scenarios (interactive/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = resolve(import.meta.dirname, '..');
export const TSX = join(ROOT, 'node_modules/.bin/tsx');

/** Starts a TypeScript entry point and resolves with its first stdout line. */
export function startService(script: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(TSX, [join(ROOT, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolvePromise({ child, line }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
}

export function stopService(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
    child.once('exit', () => resolvePromise());
    child.kill(signal);
  });
}

/**
 * A bot process the way `npm start` runs it (`node --import tsx <script>`), its output in a log
 * file. Resolves at once; the caller waits for readiness its own way.
 */
export function startNodeProcess(
  script: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  stdio: 'ignore' | 'pipe' = 'ignore',
): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: [stdio, 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  return child;
}

export async function control(url: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`control ${path}: ${JSON.stringify(json)}`);
  return json;
}

export interface FakeHandle {
  child: ChildProcess;
  apiRoot: string;
  controlUrl: string;
  token: string;
}

/**
 * The fake Bot API in its own process with Telegram-like limits: 1.2 × TELEGRAM_MAX_RPS overall
 * (so a bot that keeps to its budget never sees a 429 from a window edge) and one message per
 * second per chat after a burst of three.
 */
export async function startFake(maxRps: number, recordCalls: boolean): Promise<FakeHandle> {
  const fake = await startService('test/support/fake-bot-api/cli.ts', [
    '--port',
    '0',
    '--global-rps',
    String(Math.ceil(maxRps * 1.2)),
    '--per-chat-rps',
    '1',
    '--unknown-chats',
    'register',
    ...(recordCalls ? ['--record-calls'] : []),
  ]);
  const { apiRoot, controlUrl, token } = JSON.parse(fake.line) as Omit<FakeHandle, 'child'>;
  return { child: fake.child, apiRoot, controlUrl, token };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

/** Polls `probe` every `everyMs` until it answers true; throws after `timeoutMs`. */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}
