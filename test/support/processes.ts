import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PROJECT_ROOT = resolve(import.meta.dirname, '../..');
/** tsx as a loader inside one node process (what `npm start` does), not its wrapper process. */
const TSX_LOADER = pathToFileURL(join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Defaults to an empty temporary directory, so a developer's `.env` cannot leak into a test. */
  cwd?: string;
  timeoutMs?: number;
  /** The program and arguments before the script (default: node with tsx's loader). */
  command?: string[];
}

/** Environment for a child: the parent's minus anything that configures the bot. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(BOT_TOKEN|MONGODB_|ADMIN_IDS|TELEGRAM_|LOG_|SCHEDULER_|TOKEN_|NODE_ENV|VITEST)/.test(key))
      continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once a stdout or stderr line satisfies the predicate. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<ProcessResult>;
}

/**
 * Starts a TypeScript entry point of this project as one node process with tsx's loader, as
 * `npm start` does: signals reach the bot itself, nothing stands between them.
 */
export function startScript(script: string, args: string[] = [], options: RunOptions = {}): RunningProcess {
  const command = options.command ?? [process.execPath, '--import', TSX_LOADER];
  const [file, ...prefix] = command;
  return startProgram(file as string, [...prefix, join(PROJECT_ROOT, script), ...args], options);
}

/**
 * Starts any program (for example `npm start`) the way startScript starts a script: in its own
 * process group, with the bot's variables cleared from the environment, output collected.
 */
export function startProgram(file: string, args: string[], options: RunOptions = {}): RunningProcess {
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), 'bot-test-'));
  const child = spawn(file, args, {
    cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can signal the group as a terminal or systemd does, and
    // a hung process is killed with everything it started.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    notify();
  });
  const exited = new Promise<ProcessResult>((resolvePromise) => {
    child.on('exit', (code, signal) => {
      // Let the pipes drain before reporting.
      setImmediate(() => {
        resolvePromise({ code, signal, stdout, stderr });
        notify();
      });
    });
  });
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 60_000);
  void exited.then(() => clearTimeout(timer));

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLine(predicate, timeoutMs = 30_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const line = `${stdout}\n${stderr}`.split('\n').find(predicate);
          if (line !== undefined) {
            cleanup();
            resolvePromise(line);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(
              new Error(`process exited before the expected line; stdout:\n${stdout}\nstderr:\n${stderr}`),
            );
          }
        };
        const deadline = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for a line; stdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(deadline);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export function runScript(
  script: string,
  args: string[] = [],
  options: RunOptions = {},
): Promise<ProcessResult> {
  return startScript(script, args, options).exited;
}
