import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach } from 'vitest';
import {
  type ProcessResult,
  type RunningProcess,
  type RunOptions,
  startProgram,
  startScript,
} from './processes.js';
import { waitFor } from './wait.js';

/**
 * Process control for fault-injection tests (Linux, reads /proc). `startScript` runs the bot as
 * one node process (tsx as a loader), so the child is the bot: signals, SIGKILL and SIGSTOP reach
 * it directly, and its disappearance is checked in /proc.
 */

/** Parent pid and state letter of a process, or undefined when it does not exist. */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', ppid: Number(fields[1]) };
}

/** True while the process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** True while the process is stopped (SIGSTOP). */
export function isStopped(pid: number): boolean {
  return procStat(pid)?.state === 'T';
}

/** Pids of every process whose parent chain leads to `pid` (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    found.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

/** The command line of a process ('' once it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** SIGSTOP: the process freezes where it is (timers, sockets and all); resolves once it is stopped. */
export async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await waitFor(() => isStopped(pid), { intervalMs: 5, message: `process ${pid} to stop` });
}

/** SIGCONT after freeze(); resolves once the process runs again. */
export async function thaw(pid: number): Promise<void> {
  process.kill(pid, 'SIGCONT');
  await waitFor(() => !isStopped(pid), { intervalMs: 5, message: `process ${pid} to continue` });
}

/** The pid of the node process running the script. */
export function scriptPid(proc: RunningProcess): Promise<number> {
  const pid = proc.child.pid;
  if (pid === undefined) return Promise.reject(new Error('the script did not start'));
  return Promise.resolve(pid);
}

/** SIGKILL the process running the script; resolves once it is gone. */
export async function killHard(proc: RunningProcess, pid: number): Promise<ProcessResult> {
  process.kill(pid, 'SIGKILL');
  const result = await proc.exited;
  await waitFor(() => !isRunning(pid), { message: `process ${pid} to disappear after SIGKILL` });
  return result;
}

/**
 * Keeps track of the processes a test starts, so a failing test does not leave bots running:
 * `killAll()` (for afterEach) SIGKILLs every survivor's process group.
 */
export class ScriptProcesses {
  private readonly started: RunningProcess[] = [];

  start(script: string, args: string[] = [], options: RunOptions = {}): RunningProcess {
    const proc = startScript(script, args, options);
    this.started.push(proc);
    return proc;
  }

  /** Any program (e.g. `npm start`), tracked the same way. */
  startProgram(file: string, args: string[], options: RunOptions = {}): RunningProcess {
    const proc = startProgram(file, args, options);
    this.started.push(proc);
    return proc;
  }

  async killAll(): Promise<void> {
    const started = this.started.splice(0);
    await Promise.all(
      started.map(async (proc) => {
        if (proc.child.exitCode === null && proc.child.signalCode === null && proc.child.pid !== undefined) {
          try {
            // A stopped process must be continued to die of anything but SIGKILL; SIGKILL works anyway.
            process.kill(-proc.child.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        await proc.exited;
      }),
    );
  }
}

export interface LogLine {
  level?: string;
  msg?: string;
  time?: string;
  [key: string]: unknown;
}

/** The JSON lines of a process's output (pino); other lines are ignored. */
export function jsonLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // A line cut by a kill, or not JSON after all.
    }
  }
  return lines;
}

/** The last stdout line parsed as JSON (the one-shot CLI's outcome). */
export function lastJsonLine<T = Record<string, unknown>>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`the last stdout line is not JSON: ${JSON.stringify(line)}`);
  }
}

/**
 * The scheduler instance id a bot process logs (its claims carry it), from its first line that
 * names one.
 */
export function instanceIdOf(proc: RunningProcess): string | undefined {
  const line = jsonLines(proc.stdout()).find(
    (entry) => entry.component === 'scheduler' && typeof entry.instance === 'string',
  );
  return line?.instance as string | undefined;
}

/**
 * libfaketime from Debian's `faketime` package (installed by .ci/run): preloaded into a process,
 * it shifts what the process reads from the wall clock. Undefined when it is not installed.
 */
export function libfaketimePath(): string | undefined {
  const candidates: string[] = [];
  for (const root of ['/usr/lib', '/usr/local/lib', '/lib']) {
    let entries: string[] = [];
    try {
      entries = readdirSync(root);
    } catch {
      continue;
    }
    for (const entry of ['', ...entries]) {
      // The multi-threaded build: node runs several threads.
      candidates.push(`${root}/${entry}${entry ? '/' : ''}faketime/libfaketimeMT.so.1`);
    }
  }
  return candidates.find((path) => existsSync(path));
}

/**
 * Environment that runs a process with its wall clock `offsetSeconds` ahead (negative: behind),
 * through libfaketime. The monotonic clock (timers, performance.now()) is left alone, so only
 * what the process believes the time of day is changes.
 */
export function skewedClockEnv(library: string, offsetSeconds: number): Record<string, string> {
  return {
    LD_PRELOAD: library,
    FAKETIME: `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}s`,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

/** ScriptProcesses for the current test file: every process a test started is killed after it. */
export function useScriptProcesses(): ScriptProcesses {
  const procs = new ScriptProcesses();
  afterEach(() => procs.killAll());
  return procs;
}
