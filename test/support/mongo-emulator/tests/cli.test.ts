import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';

// Emulator-specific: the `npm run db:emulator` entry point, run the way scripts run it.

const CLI = 'test/support/mongo-emulator/cli.ts';
/**
 * The tsx that `npx tsx` and `npm run db:emulator` resolve to, started directly: npm itself
 * does not exit with its child's status when signalled, and the exit status is under test.
 */
const TSX = resolve('node_modules/.bin/tsx');

function runCli(args: string[]): ChildProcess {
  return spawn(TSX, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input: stream });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('cli', () => {
  it('prints the URI first, serves clients and exits 0 on SIGTERM', async () => {
    const child = runCli(['--port', '0']);
    try {
      const uri = await firstLine(child.stdout as NodeJS.ReadableStream);
      expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
      const client = new MongoClient(uri);
      try {
        const coll = client.db('cli').collection('c');
        await coll.insertOne({ hello: 'world' });
        expect(await coll.findOne({}, { projection: { _id: 0 } })).toEqual({ hello: 'world' });
      } finally {
        await client.close();
      }
      child.kill('SIGTERM');
      expect(await exitCode(child)).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('runs as a single-node replica set with --replset, which the driver discovers', async () => {
    const child = runCli(['--port', '0', '--replset', 'rs-cli', '--ttl-monitor-sleep-secs', '1']);
    try {
      const uri = await firstLine(child.stdout as NodeJS.ReadableStream);
      expect(uri).toMatch(/^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs-cli$/);
      const client = new MongoClient(uri);
      try {
        const hello = await client.db('admin').command({ hello: 1 });
        expect(hello).toMatchObject({ setName: 'rs-cli', isWritablePrimary: true });
        const parameters = await client.db('admin').command({ getParameter: 1, ttlMonitorSleepSecs: 1 });
        expect(parameters.ttlMonitorSleepSecs).toBe(1);
        await client.db('cli').collection('c').insertOne({ in: 'replset' });
      } finally {
        await client.close();
      }
      child.kill('SIGTERM');
      expect(await exitCode(child)).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects bad arguments with one line on stderr and exit code 1', async () => {
    const child = runCli(['--port', 'abc']);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exitCode(child)).toBe(1);
    const ours = stderr.split('\n').filter((line) => line.startsWith('mongo-emulator:'));
    expect(ours).toEqual([expect.stringContaining("invalid --port 'abc'")]);
  });
});
