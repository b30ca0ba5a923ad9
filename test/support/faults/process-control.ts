import { readdirSync, readFileSync } from 'node:fs';
import { type ProcessResult, type RunningProcess, type RunOptions, startScript } from '../processes.js';
import { waitFor } from '../wait.js';

/**
 * Process control for fault-injection tests (Linux, reads /proc).
 *
 * `startScript` runs `tsx <script>`; tsx starts the script in a child `node` process and forwards
 * SIGINT/SIGTERM to it, but a SIGKILL sent to tsx cannot be forwarded: the node process running
 * the bot would survive as an orphan. So crashes are simulated by SIGKILLing that node process
 * itself (tsx then exits too), and its disappearance is checked in /proc.
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

/** Direct children of a process. */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (procStat(Number(entry))?.ppid === parent) pids.push(Number(entry));
  }
  return pids;
}

/** True while the process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** The pid of the node process tsx started for the script (the one that runs the bot). */
export async function scriptPid(proc: RunningProcess): Promise<number> {
  const pid = await findScriptPid(proc);
  if (pid === undefined) throw new Error('tsx exited before starting the script');
  return pid;
}

/** Like scriptPid, but undefined when tsx exits without a child. */
function findScriptPid(proc: RunningProcess): Promise<number | undefined> {
  const tsxPid = proc.child.pid;
  if (tsxPid === undefined) return Promise.resolve(undefined);
  const gone = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
  return waitFor(() => childPids(tsxPid)[0] ?? (gone() ? -1 : undefined), {
    message: `the node process started by tsx (${tsxPid})`,
  }).then((pid) => (pid === -1 ? undefined : pid));
}

/** SIGKILL the node process running the script; resolves once it and tsx are gone. */
export async function killHard(proc: RunningProcess, pid: number): Promise<ProcessResult> {
  process.kill(pid, 'SIGKILL');
  const result = await proc.exited;
  await waitFor(() => !isRunning(pid), { message: `process ${pid} to disappear after SIGKILL` });
  return result;
}

/** Whether a pid still runs the given script (guards against a recycled pid). */
function runsScript(pid: number, script: string): boolean {
  try {
    return isRunning(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(script);
  } catch {
    return false;
  }
}

/**
 * Keeps track of the processes a test starts, so a failing test does not leave bots running:
 * `killAll()` (for afterEach) SIGKILLs every survivor by pid, the node process first. The node
 * pids are remembered as soon as they appear, because `startScript`'s own timeout kills only tsx
 * and would leave the node process behind.
 */
export class ScriptProcesses {
  private readonly started: { proc: RunningProcess; script: string; nodePid: Promise<number | undefined> }[] =
    [];

  start(script: string, args: string[] = [], options: RunOptions = {}): RunningProcess {
    const proc = startScript(script, args, options);
    const nodePid = findScriptPid(proc).catch(() => undefined);
    this.started.push({ proc, script, nodePid });
    return proc;
  }

  async killAll(): Promise<void> {
    const started = this.started.splice(0);
    await Promise.all(
      started.map(async ({ proc, script, nodePid }) => {
        const pid = await nodePid;
        if (pid !== undefined && runsScript(pid, script)) process.kill(pid, 'SIGKILL');
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
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
