import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../processes.js';

interface Started {
  apiRoot: string;
  controlUrl: string;
  token: string;
  /** The server process itself; npx does not forward signals to it. */
  pid: number;
}

async function control(started: Started, method: string, path: string, body?: unknown) {
  const response = await fetch(`${started.controlUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function botApi(started: Started, method: string, params: Record<string, unknown>) {
  const response = await fetch(`${started.apiRoot}/bot${started.token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('fake Bot API CLI', () => {
  let child: ChildProcess | undefined;
  let serverPid: number | undefined;

  afterEach(() => {
    // Only the processes this test started: the server (npx would not pass a signal on) and npx.
    if (serverPid !== undefined) {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  });

  it('serves the Bot API and the control API until SIGTERM', async () => {
    child = spawn(
      'npx',
      [
        'tsx',
        'test/support/fake-bot-api/cli.ts',
        '--port',
        '0',
        '--per-chat-rps',
        '1',
        '--per-chat-burst',
        '2',
        '--token',
        '42:cli-token',
      ],
      {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = once(child, 'exit');
    const firstLine = (
      await createInterface({ input: child.stdout as NodeJS.ReadableStream })
        [Symbol.asyncIterator]()
        .next()
    ).value as string;
    const started = JSON.parse(firstLine) as Started;
    serverPid = started.pid;
    expect(started).toEqual({
      apiRoot: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      controlUrl: `${started.apiRoot}/__control`,
      token: '42:cli-token',
      pid: expect.any(Number),
    });

    const seeded = await control(started, 'POST', '/seed', {
      chatRange: { firstChatId: 5000, chatCount: 2000, messagesPerChat: 3 },
    });
    expect(seeded.body).toEqual({ ok: true, seededMessages: 6000 });
    const oneChat = await control(started, 'POST', '/seed', { chats: [{ chatId: 9, count: 2 }] });
    expect(oneChat.body).toEqual({
      ok: true,
      seededMessages: 2,
      chats: [{ chatId: 9, firstId: 1, lastId: 2 }],
    });

    expect(
      (await botApi(started, 'deleteMessages', { chat_id: 5000, message_ids: [1, 2, 3, 4] })).body,
    ).toEqual({
      ok: true,
      result: true,
    });
    for (const text of ['a', 'b']) {
      expect((await botApi(started, 'sendMessage', { chat_id: 5001, text })).status).toBe(200);
    }
    const limited = await botApi(started, 'sendMessage', { chat_id: 5001, text: 'c' });
    expect(limited).toMatchObject({ status: 429, body: { parameters: { retry_after: 1 } } });

    const stats = await control(started, 'GET', '/stats');
    expect(stats.body).toMatchObject({
      ok: true,
      totalCalls: 4,
      callsByMethod: { deleteMessages: 1, sendMessage: 3 },
      count429: 1,
      retryAfterTotalSeconds: 1,
      messages: { chats: 2001, visible: 6000 - 3 + 2 + 2, deleted: 3 },
      rateLimits: { perChatPerSecond: 1, perChatBurst: 2 },
    });
    expect(typeof stats.body.firstCallAt).toBe('number');
    expect(await control(started, 'GET', '/messages?chatId=5000&ids=1')).toMatchObject({
      body: { visible: 0, deleted: 3, deletedIds: [1, 2, 3] },
    });

    await control(started, 'POST', '/faults', { method: 'getMe', status: 502, times: 'Infinity' });
    expect((await botApi(started, 'getMe', {})).status).toBe(502);
    await control(started, 'POST', '/stats/reset');
    expect((await control(started, 'GET', '/stats')).body).toMatchObject({ totalCalls: 0, count429: 0 });
    expect((await control(started, 'POST', '/nope')).status).toBe(404);

    process.kill(started.pid, 'SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    serverPid = undefined;
  });
});
