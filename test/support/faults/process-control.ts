import { readFileSync } from 'node:fs';
import { type ProcessResult, type RunningProcess, type RunOptions, startScript } from '../processes.js';
import { waitFor } from '../wait.js';

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
